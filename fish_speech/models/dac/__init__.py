"""The modded DAC codec of OpenAudio S1-mini and Fish Audio S2-Pro (`codec.pth`)."""

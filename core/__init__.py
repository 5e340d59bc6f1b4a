"""The foundation every other folder builds on: the data passed between parts (types), labels,
profiles and their options, the experts table, media decoding, windows, faces and model
sources. It imports nothing from cer.modalities, cer.fusion, cer.pipeline or cer.serving."""

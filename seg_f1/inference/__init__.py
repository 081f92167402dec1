"""A trained model put to use outside training: loading it with its input recipe (``model``),
parsing photos at their own size (``parse``, ``photos``), scoring a labelled split (``scoring``)
and its ONNX twin (``onnx_export``, ``onnx_model``)."""

"""Pure-Python document processing: no Spark, no torch. Heavy libraries are imported inside functions."""

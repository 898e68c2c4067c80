"""Model-based processing: classifiers score, filters decide. No Spark imports."""

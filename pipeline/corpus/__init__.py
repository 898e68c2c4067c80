"""Document corpora as input: Parquet, JSON lines (plain, .gz, .zst), Arrow and Hugging Face dataset folders.

`detect` tells a file's kind from its bytes, `columns` maps a corpus's column names onto the Document row
(FineWeb, dolma and RedPajama conventions are known), `reader` streams a file as Documents. The filter stage
(pipeline/corpus/filter_stage.py) runs the rule filters over them, as extract does over WARC pages.
"""

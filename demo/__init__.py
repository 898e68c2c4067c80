"""Demo data: the sample crawl generator (`sluice sample-crawl`), the prose it is made of, its ground-truth labels
and the small models `make demo` trains from them (`sluice classifiers train-demo`).

Not document processing: nothing here is shipped to executors (`make pyfiles` leaves it out). May import
pipeline/ and classifiers/; nothing in pipeline/, classifiers/ or jobs/' stage code imports it.
"""

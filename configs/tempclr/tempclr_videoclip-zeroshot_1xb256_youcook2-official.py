# Zero-shot YouCook2 retrieval with the full-video metric in the official
# code's mode (FullVideoRetrievalMetric in MMPT's evaluators/metric.py):
# OTAM's first column has its minimum subtracted, DTW_pad zeroes whole rows,
# video ids are matched as substrings. Use it to compare with numbers
# published from the official code; use the plain config otherwise.
_base_ = ['./tempclr_videoclip-zeroshot_1xb256_youcook2.py']
test_evaluator = [
    dict(type='TextVideoRetrievalMetric', protocol='tempclr',
         prefix='youcook2'),
    dict(type='FullVideoRetrievalMetric', protocol='official',
         prefix='youcook2_fullvideo'),
]

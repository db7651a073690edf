# YouCook2 validation clips as MMPT's test_youcook_zs.yaml reads them:
# youcook_val.pkl (clip ids and captions), the trainval annotation json
# (segments; with use_annotation_text the sentences of the annotation replace
# the pkl captions, as official), S3D features one per second; a clip is at
# most max_video_len=32 s of its segment. Test batch 256, as official.
youcook2_data_root = 'data/youcook2/'
youcook2_dataset = dict(
    type='YouCook2RetrievalDataset',
    data_root=youcook2_data_root,
    ann_file='youcook_val.pkl',
    trainval_annotation='youcookii_annotations_trainval.json',
    vfeat_dir='features',
    vocab_file='data/bert-base-uncased/vocab.txt',
    use_annotation_text=True,
    test_mode=True)
test_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'),
    dataset=youcook2_dataset)
# clip-level text->video retrieval (raw dot product, R@1/5/10, MedR) and
# the full-video DTW/OTAM retrieval over each video's clip sequence
test_evaluator = [
    dict(type='TextVideoRetrievalMetric', protocol='tempclr',
         prefix='youcook2'),
    dict(type='FullVideoRetrievalMetric', protocol='exact',
         prefix='youcook2_fullvideo'),
]

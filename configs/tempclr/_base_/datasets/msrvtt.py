# MSR-VTT 1k-A test (MMPT's test_vtt_zs.yaml layout): the JSFusion test csv
# (key, vid_key, video_id, sentence) and S3D features per video; a video is
# its first max_video_len=32 s. Test batch 256.
msrvtt_data_root = 'data/msrvtt/'
msrvtt_dataset = dict(
    type='MSRVTTRetrievalDataset',
    data_root=msrvtt_data_root,
    ann_file='MSRVTT_JSFUSION_test.csv',
    vfeat_dir='feat_vtt_s3d',
    vocab_file='data/bert-base-uncased/vocab.txt',
    test_mode=True)
test_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'),
    dataset=msrvtt_dataset)
test_evaluator = dict(
    type='TextVideoRetrievalMetric', protocol='tempclr', prefix='msrvtt')

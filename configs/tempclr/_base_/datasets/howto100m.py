# HowTo100M pre-training as MMPT's how2.yaml reads it: S3D features in
# ShardedTensor shards (`{split}_{i}_starts.npy` + `{split}_{i}_data.npy`,
# `{split}_meta.pkl`), captions tokenised by bert-base-uncased in shards of
# their own. One item is a group of num_video_per_batch=16 videos x
# clip_per_video=16 clips (fairseq batch_size 1), each clip a caption run of
# 8..64 tokens aligned with a 3..32 s video window (VideoRetriOverlappedAligner);
# RetrievalBatchingHook regroups the videos by nearest neighbours before
# every epoch (retri_epoch 1, num_cands 64).
how2_data_root = 'data/howto100m/'
how2_dataset = dict(
    type='How2ShardedDataset',
    data_root=how2_data_root,
    ann_file='how2_s3d_train.lst',
    vfeat_dir='feat_how2_s3d_shard',
    tfeat_dir='feat_how2_s3d_shard/raw_caption_dedup.bert-base-uncased.',
    split='train',
    vocab_file='data/bert-base-uncased/vocab.txt',
    num_video_per_batch=16,
    clip_per_video=16,
    max_video_len=32,
    max_len=96,
    sampled_min_len=8,
    sampled_max_len=64,
    sampled_video_min_len=3,
    sampled_video_max_len=32)
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    # the hook changes the dataset's groups between epochs: workers must be
    # re-created to see them
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'),
    dataset=how2_dataset)
custom_hooks = [
    dict(
        type='RetrievalBatchingHook',
        begin_epoch=1,
        num_cands=64,
        batch_videos=256)
]

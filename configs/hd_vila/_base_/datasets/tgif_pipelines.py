# TGIF-QA clips (src/configs/tgif_*_qa.json and the official QA loader):
# GIFs converted to mp4 (videos_mp4, scripts/process_raw_video/gif2mp4.py);
# the folder name holds "gif", so each frame's longer side is fitted to 192
# (max_img_size, bilinear) and padded to 192x192 with 127 (pad_value), no
# crop (crop_size / reshape_size are not read on this path); the keyframe
# is the middle frame upsampled x4 (768x768). Training: 1 random clip
# (train_n_clips) of 7 frames (num_frm) 4 apart (sample_rate), flipped
# with probability 1/3; validation during training: 1 random clip, no flip;
# inference: 8 evenly spaced clips (inference_n_clips).
tgif_vocab = 'data/pretrained/bert-base-uncased/vocab.txt'
tgif_train_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=1,
        num_frm=7,
        sample_rate=4,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(type='HDVILAFitPad', max_size=192, train=True, keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
tgif_val_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=1,
        num_frm=7,
        sample_rate=4,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(type='HDVILAFitPad', max_size=192, train=False, keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
tgif_test_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=8,
        num_frm=7,
        sample_rate=4,
        random_clips=False),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(type='HDVILAFitPad', max_size=192, train=False, keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]

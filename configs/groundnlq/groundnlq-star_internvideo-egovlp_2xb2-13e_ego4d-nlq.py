# GroundNLQ* (cross-attention in the stride-2 branch, backbone_arch
# [2, 4, 4, 6, 0]) from scratch on Ego4D NLQ train (official
# configs/ego4d_nlq_v2_internvideo_1e-4_groundnlq_star.yaml, 2 GPUs).
_base_ = ['./groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py']
model = dict(backbone_arch=(2, 4, 4, 6, 0))

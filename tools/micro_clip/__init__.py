"""micro-CLIP pretraining: generated captioned images, the training loop and its zero-shot check.

    python -m tools.micro_clip.pretrain --help
"""

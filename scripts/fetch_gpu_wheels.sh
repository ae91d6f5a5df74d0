#!/usr/bin/env bash
# Download, into .whl/, the wheels that the device machine's image lacks (it has torch,
# torchaudio, torchvision, pytorch-lightning, torchmetrics and sentencepiece), for its
# Python 3.12 on x86_64. .whl/ is git-ignored; carry it to the device machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl hydra-core==1.3.8 omegaconf==2.3.1 soundfile==0.14.0 espeakng-loader==0.2.4 \
    flashlight-text==0.0.7 av==18.1.0
# antlr4-python3-runtime 4.9.3 (hydra's pin) ships as a source archive only: build its wheel here
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls -la .whl

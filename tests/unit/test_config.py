"""The configs' interpolations: derived sizes follow the sizes they come from."""

from tests.conftest import make_config


def test_config_interpolations_are_checked(tmp_path):
    cfg = make_config(
        tmp_path, ["experiment=kws_synthetic", "decoder.hidden=32", "decoder.bidirectional=false"]
    )
    assert cfg.decoder.out_dim == 32 and cfg.head.input_dim == 32 and cfg.head.num_classes == 35
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", "frontend=mfcc"])
    assert cfg.encoder.input_dim == cfg.frontend.featurizer.n_mfcc == 40

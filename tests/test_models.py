"""Tests of ganlib.models: shapes, DCGAN initialization, input contracts and build_models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganlib

from ganlib.core.models import DCGAN_INIT_STD, MNIST_SHAPE, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, drop_batchnorm, init_dcgan_weights
from ganlib.core.zoo import build_models
from ganlib.core.utils import GanlibError, seed_everything

B = 4  # batch size for shape tests


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


# --- shapes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data_shape, act", [((1, 28, 28), "tanh"), ((2,), None)])
def test_mlp_shapes(data_shape, act):
    generator = MLPGenerator(latent_dim=8, data_shape=data_shape, hidden=(16,), out_activation=act)
    discriminator = MLPDiscriminator(data_shape=data_shape, hidden=(16,))
    x = generator(torch.randn(B, 8))
    assert x.shape == (B, *data_shape)
    logits = discriminator(x)
    assert logits.shape == (B,)


def test_mlp_generator_without_tanh_is_unbounded():
    generator = MLPGenerator(latent_dim=2, data_shape=(2,), hidden=(), out_activation=None)
    with torch.no_grad():
        generator.net[0].weight.fill_(10.0)
    assert generator(torch.ones(1, 2)).abs().max() > 1.0


def test_mlp_generator_rejects_an_unknown_activation():
    with pytest.raises(GanlibError, match="out_activation"):
        MLPGenerator(out_activation="sigmoid")


def test_dcgan_shapes_and_output_range():
    generator, discriminator = DCGANGenerator(latent_dim=10, width=8), DCGANDiscriminator(width=8)
    x = generator(3.0 * torch.randn(B, 10))  # large noise pushes outputs towards the tanh's ends
    assert x.shape == (B, 1, 28, 28)
    assert x.min() >= -1.0 and x.max() <= 1.0
    logits = discriminator(x)
    assert logits.shape == (B,)


def test_discriminators_return_logits_not_probabilities():
    discriminator = MLPDiscriminator(data_shape=(2,), hidden=(4,))
    with torch.no_grad():
        discriminator.net[-1].bias.fill_(5.0)  # a sigmoid would squash this below 1
    assert discriminator(torch.zeros(B, 2)).min() > 1.0


# --- DCGAN initialization ---------------------------------------------------------------------

def test_dcgan_init_std_is_0_02_and_biases_zero():
    assert DCGAN_INIT_STD == 0.02
    for module in (DCGANGenerator(latent_dim=100, width=16), DCGANDiscriminator(width=16)):
        layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
        assert layers
        for layer in layers:
            w = layer.weight.detach()
            if w.numel() >= 500:  # small layers give noisy estimates of the std
                assert abs(w.std().item() - 0.02) < 0.002, layer
            assert abs(w.mean().item()) < 0.005, layer
            if layer.bias is not None:
                assert torch.count_nonzero(layer.bias) == 0


def test_dcgan_init_batchnorm_scale_near_1_shift_0():
    generator = DCGANGenerator(latent_dim=10, width=16)
    bns = [m for m in generator.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(bns) == 2
    big = bns[0]  # 2 * 16 * 49 = 1568 scales
    assert abs(big.weight.mean().item() - 1.0) < 0.005
    assert abs(big.weight.std().item() - 0.02) < 0.003
    for bn in bns:
        assert abs(bn.weight.mean().item() - 1.0) < 0.02
        assert torch.count_nonzero(bn.bias) == 0


def test_init_dcgan_weights_dispatches_on_layer_type():
    # a plain Sequential: the Linear is re-initialized, the LayerNorm (not a DCGAN layer) is left alone
    layer_norm = nn.LayerNorm(8)
    with torch.no_grad():
        layer_norm.weight.fill_(3.0)
    model = nn.Sequential(nn.Linear(200, 200), layer_norm)
    init_dcgan_weights(model)
    assert abs(model[0].weight.std().item() - 0.02) < 0.002
    assert torch.all(layer_norm.weight == 3.0)


# --- input contracts --------------------------------------------------------------------------

@pytest.mark.parametrize("z_shape", [(B, 7), (B,), (B, 8, 1)])
@pytest.mark.parametrize("cls", [MLPGenerator, DCGANGenerator])
def test_generators_reject_a_wrong_latent_naming_the_expected_shape(cls, z_shape):
    generator = cls(latent_dim=8) if cls is DCGANGenerator else cls(latent_dim=8, hidden=(4,))
    with pytest.raises(GanlibError, match=r"\(B, 8\)"):
        generator(torch.randn(*z_shape))


@pytest.mark.parametrize("x_shape", [(B, 28, 28), (B, 784), (B, 3, 28, 28), (B, 1, 32, 32)])
@pytest.mark.parametrize("make", [lambda: MLPDiscriminator(hidden=(4,)), lambda: DCGANDiscriminator(width=4)])
def test_image_discriminators_reject_a_wrong_shape_naming_the_expected_one(make, x_shape):
    with pytest.raises(GanlibError, match=r"\(B, 1, 28, 28\)"):
        make()(torch.randn(*x_shape))


def test_2d_discriminator_rejects_images():
    with pytest.raises(GanlibError, match=r"\(B, 2\)"):
        MLPDiscriminator(data_shape=(2,), hidden=(4,))(torch.randn(B, 1, 28, 28))


def test_discriminator_rejects_integer_images():
    with pytest.raises(GanlibError, match="floating"):
        MLPDiscriminator(hidden=(4,))(torch.zeros(B, 1, 28, 28, dtype=torch.uint8))


# --- build_models -----------------------------------------------------------------------------

def test_build_mlp_for_images_has_tanh_and_for_points_has_none():
    g_img, d_img = build_models("mlp", data_shape=MNIST_SHAPE, latent_dim=8, hidden=(16,))
    g_pts, _ = build_models("mlp", data_shape=(2,), latent_dim=8, hidden=(16,))
    assert isinstance(g_img, MLPGenerator) and isinstance(d_img, MLPDiscriminator)
    assert any(isinstance(m, nn.Tanh) for m in g_img.modules())
    assert not any(isinstance(m, nn.Tanh) for m in g_pts.modules())
    assert g_pts.data_shape == (2,) and g_pts.latent_dim == 8


def test_build_mlp_separate_hidden_sizes():
    generator, discriminator = build_models("mlp", data_shape=(2,), latent_dim=3, g_hidden=(5,), d_hidden=(7,))
    assert generator.net[0].out_features == 5
    assert discriminator.net[1].out_features == 7  # net[0] is Flatten


def test_build_dcgan_width():
    generator, discriminator = build_models("dcgan", latent_dim=12, width=8)
    assert isinstance(generator, DCGANGenerator) and isinstance(discriminator, DCGANDiscriminator)
    assert generator.latent_dim == 12 and generator.width == 8
    assert generator(torch.randn(2, 12)).shape == (2, 1, 28, 28)


def test_build_dcgan_refine_pack_and_translate():
    generator, discriminator = build_models("dcgan", latent_dim=12, width=8, refine=True, pack=2, translate=2)
    convs = [m for m in generator.upsample if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [type(m) for m in convs] == [nn.ConvTranspose2d, nn.ConvTranspose2d, nn.Conv2d]
    assert convs[1].out_channels == 4 and convs[2].kernel_size == (3, 3)  # width // 2 channels at 28x28
    x = generator(torch.randn(6, 12))
    assert x.shape == (6, 1, 28, 28) and x.abs().max() <= 1
    assert discriminator(x).shape == (3,)  # one logit per pack of two digits
    discriminator.eval()  # no shift in eval mode: the same input gives the same verdict
    assert torch.equal(discriminator(x), discriminator(x))
    plain_g, plain_d = build_models("dcgan", latent_dim=12, width=8)
    assert plain_d(x).shape == (6,) and len([m for m in plain_g.upsample if isinstance(m, nn.ConvTranspose2d)]) == 2


@pytest.mark.parametrize("name, kwargs, match", [
    ("resnet", {}, "unknown model"),
    ("dcgan", {"pack": 0}, "pack must be a positive integer"),
    ("dcgan", {"pack": 2.0}, "pack must be a positive integer"),
    ("dcgan", {"translate": -1}, "translate must be a non-negative"),
    ("dcgan", {"refine": "yes"}, "refine must be True or False"),
    ("cdcgan", {"pack": 2}, "takes no options"),
    ("dcgan", {"data_shape": (2,)}, "28x28"),
    ("dcgan", {"hidden": (16,)}, "takes no options"),
    ("mlp", {"width": 8}, "takes no options"),
    ("mlp", {"dropout": 0.1}, "takes no options"),
])
def test_build_models_errors(name, kwargs, match):
    with pytest.raises(GanlibError, match=match):
        build_models(name, **kwargs)


@pytest.mark.parametrize("name,shape", [("dcgan-sn", (1, 28, 28)), ("mlp-sn", (2,))])
def test_spectral_norm_models_bound_every_d_layer_and_have_no_batchnorm(name, shape):
    torch.manual_seed(0)
    generator, discriminator = ganlib.build_models(name, data_shape=shape, latent_dim=8)
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in discriminator.modules())
    x = torch.randn(16, *shape)
    for _ in range(30):  # power iteration converges over forward passes in training mode
        discriminator(x)
    for m in layers:
        w = m.weight.reshape(m.weight.shape[0], -1) if isinstance(m, nn.Conv2d) else m.weight
        assert torch.linalg.matrix_norm(w.detach(), ord=2) == pytest.approx(1.0, rel=0.05)
    assert discriminator(x).shape == (16,)
    plain = ganlib.build_models(name[:-3], data_shape=shape, latent_dim=8)[0]
    assert type(plain) is type(generator), "only D changes"


def test_spectral_norm_recipe_and_checkpoint_round_trip(tmp_path):
    plan = ganlib.recipes.recipe("ring", "mlp-sn", num_steps=4, progress=False)
    assert plan.model["name"] == "mlp-sn" and plan.config.loss == "hinge"
    generator, discriminator = ganlib.build_models(**plan.model)
    x = ganlib.sample_toy("ring", 256, generator=torch.Generator().manual_seed(0))
    run = ganlib.train(generator, discriminator, x, plan.config, device="cpu")
    run.model_spec = plan.model
    path = ganlib.checkpoint.save_checkpoint(tmp_path / "c.pt", run)
    restored = ganlib.checkpoint.restore_run(path)
    for a, b in zip(restored.discriminator.state_dict().values(), run.discriminator.state_dict().values()):
        assert torch.equal(a, b)


def test_mnist_recipe_pair_survives_a_checkpoint_and_cdcgan_keeps_the_plain_settings(tmp_path):
    from ganlib.core.augment import Translated
    from ganlib.variants.remedies import Packed

    plan = ganlib.recipes.recipe("mnist", num_steps=2, batch_size=8, progress=False)
    generator, discriminator = ganlib.build_models(**plan.model)
    assert isinstance(discriminator, Translated) and isinstance(discriminator.discriminator, Packed)
    run = ganlib.train(generator, discriminator, ganlib.load_mnist()[0][:64], plan.config, device="cpu")
    run.model_spec = plan.model
    restored = ganlib.checkpoint.restore_run(ganlib.checkpoint.save_checkpoint(tmp_path / "c.pt", run))
    for module in ("generator", "discriminator"):
        saved, back = getattr(run, module).state_dict(), getattr(restored, module).state_dict()
        assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    conditional = ganlib.recipes.recipe("mnist", "cdcgan", num_steps=5)
    assert not {"refine", "pack", "translate"} & set(conditional.model) and conditional.config.num_steps == 5
    assert conditional.config.lr_d == conditional.config.lr_g and not conditional.config.lr_decay.end
    ganlib.build_models(**conditional.model)
    with pytest.raises(GanlibError, match="no recipe"):
        ganlib.recipes.recipe("ring", "cdcgan")


def test_drop_batchnorm_replaces_every_batchnorm_and_keeps_the_rest():
    generator, discriminator = build_models("dcgan", width=8, latent_dim=16)
    before = {name for name, _ in discriminator.named_parameters() if "net.3" not in name}
    assert drop_batchnorm(discriminator) is discriminator
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in discriminator.modules())
    assert {name for name, _ in discriminator.named_parameters()} == before  # only BatchNorm's scale/shift went
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]))  # no batch dependence left

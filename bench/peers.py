"""The PyTorch and Keras side of `npm run bench:peers` (bench/peers.ts starts it in the peers venv).

One process per framework, driven over stdin/stdout with one JSON object per line, so that
bench/peers.ts can give gzx, PyTorch and Keras alternating turns of the same work in one run:

  {"cmd": "setup", "model": "r50_112", "arch": "resnet50", "size": 112, "batch": 8, "tree": {...}}
  {"cmd": "train", "ms": 4000}   -> {"images": N, "ms": wall, "cpu_ms": cpu}
  {"cmd": "infer", "ms": 2000}   -> the same for inference
  {"cmd": "quit"}

Every model gets gzx's galaxy-zoo head (concat pooling, BN, dropout ps/2, dense 512, ReLU, BN,
dropout ps, dense 37, the decision-tree normalisation built from the same matrices gzx uses, sent
in "tree"), MSE and Adam (lr 1e-3), on a random batch made once. Threads: every core
(`--threads`, default os.cpu_count()), set as each framework documents it.
"""

import json
import os
import resource
import sys
import time

FRAMEWORK = sys.argv[sys.argv.index("--framework") + 1]
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else os.cpu_count()
PS = 0.25
HIDDEN = 512


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(step, images_per_step, ms):
    start, cpu = time.perf_counter(), cpu_seconds()
    images = 0
    while True:
        step()
        images += images_per_step
        if (time.perf_counter() - start) * 1000 >= ms:
            break
    return {"images": images, "ms": (time.perf_counter() - start) * 1000, "cpu_ms": (cpu_seconds() - cpu) * 1000}


# ---------------------------------------------------------------- PyTorch

def torch_framework():
    import numpy as np
    import torch
    import torchvision
    from torch import nn

    # As PyTorch documents it: intra-op threads for every core; inter-op left at its default.
    torch.set_num_threads(THREADS)

    class GalaxyNorm(nn.Module):
        def __init__(self, tree):
            super().__init__()
            n = tree["columns"]
            self.register_buffer("same", torch.tensor(tree["sameQuestion"], dtype=torch.float32).reshape(n, n))
            self.register_buffer("parent", torch.tensor(tree["parent"], dtype=torch.float32).reshape(n, n))
            self.register_buffer("root", torch.tensor(tree["root"], dtype=torch.float32).reshape(1, n))
            self.depth = tree["depth"]
            self.eps = tree["epsilon"]

        def forward(self, x):
            clipped = torch.relu(x)
            normalised = clipped / (clipped @ self.same + self.eps)
            out = normalised * self.root
            for _ in range(self.depth):
                out = normalised * (out @ self.parent + self.root)
            return out

    class ConcatPool(nn.Module):  # fastai's AdaptiveConcatPool2d + Flatten
        def forward(self, x):
            return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)

    def head(channels, tree):
        last = nn.Linear(HIDDEN, tree["columns"])
        nn.init.normal_(last.weight, std=(0.1 / HIDDEN) ** 0.5)
        nn.init.ones_(last.bias)
        first = nn.Linear(2 * channels, HIDDEN)
        nn.init.kaiming_normal_(first.weight)
        return nn.Sequential(
            ConcatPool(), nn.BatchNorm1d(2 * channels), nn.Dropout(PS / 2), first, nn.ReLU(inplace=True),
            nn.BatchNorm1d(HIDDEN), nn.Dropout(PS), last, GalaxyNorm(tree),
        )

    def backbone(arch, channels=(16, 32, 64, 128)):
        if arch in ("resnet50", "resnet18"):
            net = getattr(torchvision.models, arch)(weights=None)
            # fastai's create_body: everything before the average pool and the classifier.
            return nn.Sequential(*list(net.children())[:-2]), net.fc.in_features
        layers, c_in = [], 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True)]
            c_in = c
        return nn.Sequential(*layers), c_in

    state = {}

    def setup(msg):
        torch.manual_seed(1)
        body, channels = backbone(msg["arch"])
        model = nn.Sequential(body, head(channels, msg["tree"]))
        b, s = msg["batch"], msg["size"]
        x = torch.rand(b, 3, s, s)
        y = torch.rand(b, msg["tree"]["columns"])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.MSELoss()

        def train():
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        def infer():
            model.eval()
            with torch.inference_mode():
                return model(x).numpy().sum()

        state.update(train=train, infer=infer, batch=b)
        for _ in range(2):
            train()
        infer()
        return {"params": sum(p.numel() for p in model.parameters())}

    info = {
        "version": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": f"torch.set_num_threads({THREADS}) (intra-op); inter-op {torch.get_num_interop_threads()} (default)",
        "layout": "NCHW (PyTorch's default)",
    }
    return info, setup, state


# ---------------------------------------------------------------- Keras (TensorFlow backend)

def keras_framework():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    # As TensorFlow documents it, before the first op: every core for both pools.
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    import keras
    from keras import layers, ops

    class GalaxyNorm(layers.Layer):
        def __init__(self, tree, **kw):
            super().__init__(**kw)
            n = tree["columns"]
            self.same = np.array(tree["sameQuestion"], np.float32).reshape(n, n)
            self.parent = np.array(tree["parent"], np.float32).reshape(n, n)
            self.root = np.array(tree["root"], np.float32).reshape(1, n)
            self.depth = tree["depth"]
            self.eps = tree["epsilon"]

        def call(self, x):
            clipped = ops.relu(x)
            normalised = clipped / (ops.matmul(clipped, self.same) + self.eps)
            out = normalised * self.root
            for _ in range(self.depth):
                out = normalised * (ops.matmul(out, self.parent) + self.root)
            return out

    def head(features, tree):
        x = layers.Concatenate()([layers.GlobalMaxPooling2D()(features), layers.GlobalAveragePooling2D()(features)])
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        x = layers.Dropout(PS / 2)(x)
        x = layers.Dense(HIDDEN, kernel_initializer="he_normal")(x)
        x = layers.ReLU()(x)
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        x = layers.Dropout(PS)(x)
        x = layers.Dense(tree["columns"], kernel_initializer=keras.initializers.VarianceScaling(0.1), bias_initializer="ones")(x)
        return GalaxyNorm(tree)(x)

    def conv_bn(x, filters, kernel, stride, padding="same", relu=True):
        x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        return layers.ReLU()(x) if relu else x

    def resnet18(inputs):
        # torchvision's basic-block ResNet18, as gzx builds it (src/plugins/backbone/resnet.ts).
        x = layers.ZeroPadding2D(3)(inputs)
        x = conv_bn(x, 64, 7, 2, "valid")
        x = layers.ZeroPadding2D(1)(x)
        x = layers.MaxPooling2D(3, 2)(x)
        for stage, filters in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if block == 0 and stage > 0 else 1
                shortcut = conv_bn(x, filters, 1, stride, "valid", relu=False) if stride == 2 else x
                y = conv_bn(layers.ZeroPadding2D(1)(x), filters, 3, 2, "valid") if stride == 2 else conv_bn(x, filters, 3, 1)
                y = conv_bn(y, filters, 3, 1, relu=False)
                x = layers.ReLU()(layers.Add()([shortcut, y]))
        return x

    def simple_cnn(inputs, channels=(16, 32, 64, 128)):
        x = inputs
        for c in channels:
            x = conv_bn(x, c, 3, 2)
        return x

    state = {}

    def setup(msg):
        keras.utils.set_random_seed(1)
        keras.backend.clear_session()
        b, s = msg["batch"], msg["size"]
        if msg["arch"] == "resnet50":
            body = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(s, s, 3))
            inputs, features = body.input, body.output
        else:
            inputs = keras.Input((s, s, 3))
            features = resnet18(inputs) if msg["arch"] == "resnet18" else simple_cnn(inputs)
        model = keras.Model(inputs, head(features, msg["tree"]))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        rng = np.random.default_rng(1)
        x = tf.constant(rng.random((b, s, s, 3), np.float32))
        y = tf.constant(rng.random((b, msg["tree"]["columns"]), np.float32))
        train = lambda: float(model.train_on_batch(x, y))
        infer = lambda: model.predict_on_batch(x).sum()
        state.update(train=train, infer=infer, batch=b, model=model)
        for _ in range(2):
            train()
        infer()
        return {"params": model.count_params(), "jit_compile": bool(model.jit_compile)}

    info = {
        "version": f"keras {keras.__version__}, tensorflow-cpu {tf.__version__}",
        "threads": f"tf.config.threading intra-op {THREADS}, inter-op {THREADS}",
        "layout": "NHWC (channels last)",
        "training": "model.compile(Adam, 'mse') defaults (no XLA on CPU) + train_on_batch; inference predict_on_batch",
    }
    return info, setup, state


def main():
    info, setup, state = {"torch": torch_framework, "keras": keras_framework}[FRAMEWORK]()
    reply({"ok": True, "framework": FRAMEWORK, **info})
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "setup":
                reply({"ok": True, **setup(msg)})
            elif cmd in ("train", "infer"):
                reply({"ok": True, **timed(state[cmd], state["batch"], msg["ms"])})
            elif cmd == "rss":
                reply({"ok": True, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
            elif cmd == "quit":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": f"unknown command {cmd}"})
        except Exception as e:  # report, keep serving: the orchestrator decides
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()

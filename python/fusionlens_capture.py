"""fusionlens_capture: hand one module of your PyTorch network to FusionLens.

Single file; needs only torch (the rest is the standard library). From a training script or
a notebook::

    from fusionlens_capture import capture
    capture(model, x, module=model.layer3.fuse, path="fuse.flcap")

``capture`` hooks ``module``, runs ``model`` once on ``inputs`` (eval mode, no autograd),
and writes one safetensors file:

* ``input.0``, ``input.1``, ...   the module's positional tensor inputs as your run saw them
* ``output.0``, ``output.1``, ... its tensor outputs, flattened (tuples, lists, dicts)
* ``state.KEY``                   its state_dict
* ``image``                       the image, when you give one (a tensor)
* ``script``                      a TorchScript trace of the module (torch.jit.save bytes)
* metadata: ``format`` = fusionlens-capture, ``format_version`` = 1, ``class``, ``qualname``,
  ``module_path`` (where the module sits in ``model``), ``init_args`` (the constructor
  arguments it can infer, JSON), ``torch_version``, and ``trace_error`` if tracing failed.

Then ``fusionlens-cli run --capture fuse.flcap --save out.safetensors`` checks FusionLens's
built-in module against your run (exit 3 when they differ) or runs the trace with its
attention points. See docs/your-network.md.
"""

import ctypes
import inspect
import io
import json
import struct
import sys

import torch

FORMAT = "fusionlens-capture"
FORMAT_VERSION = "1"

_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def _tensor_bytes(t):
    t = t.detach().to("cpu").contiguous()
    n = t.numel() * t.element_size()
    data = ctypes.string_at(t.data_ptr(), n) if n else b""
    if sys.byteorder != "little" and t.element_size() > 1:  # safetensors is little-endian
        b = bytearray(data)
        k = t.element_size()
        for i in range(0, n, k):
            b[i:i + k] = b[i:i + k][::-1]
        data = bytes(b)
    return data


def write_safetensors(path, tensors, metadata=None):
    """Writes ``tensors`` (a list of (name, tensor)) as .safetensors with string metadata."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, t in tensors:
        if t.dtype not in _DTYPES:
            raise TypeError("fusionlens_capture: tensor %r has dtype %s, which safetensors "
                            "cannot hold" % (name, t.dtype))
        data = _tensor_bytes(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _flatten(value, out):
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    return out


def _init_args(module):
    """Constructor arguments the instance still shows: attributes named like the
    parameters of its class's __init__ (``self.r = r``), plus ``channels`` from the first
    weight when the signature has such a parameter and the attribute is missing."""
    args = {}
    try:
        sig = inspect.signature(type(module).__init__)
    except (TypeError, ValueError):
        return args
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(module, name):
            v = getattr(module, name)
            if isinstance(v, (bool, int, float, str)):
                args[name] = v
            elif isinstance(v, (tuple, list)) and all(isinstance(e, int) for e in v):
                args[name] = list(v)
    return args


def _module_path(model, module):
    for name, m in model.named_modules():
        if m is module:
            return name
    raise ValueError("fusionlens_capture: `module` is not a submodule of `model`")


def capture(model, inputs, module=None, path="capture.flcap", image=None, eval_mode=True):
    """Run ``model(*inputs)`` once with a hook on ``module`` and write what it saw.

    model:  the whole network (an nn.Module)
    inputs: a tensor or a tuple/list of tensors for ``model``
    module: the submodule to capture (default: ``model`` itself)
    path:   the .flcap file to write
    image:  optionally the image the inputs came from, as a tensor (saved as ``image``)
    Returns the path.
    """
    module = model if module is None else module
    module_path = _module_path(model, module)
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    seen = {}

    def hook(mod, mod_inputs, mod_output):
        if "inputs" not in seen:  # the first call of the module is the one captured
            seen["inputs"] = mod_inputs
            seen["output"] = mod_output

    handle = module.register_forward_hook(hook)
    was_training = model.training
    if eval_mode:
        model.eval()
    try:
        with torch.no_grad():
            model(*args)
    finally:
        handle.remove()
        model.train(was_training)
    if "inputs" not in seen:
        raise RuntimeError("fusionlens_capture: the module at %r did not run during "
                           "model(*inputs)" % (module_path or "(model)"))

    mod_inputs = [t for t in seen["inputs"] if isinstance(t, torch.Tensor)]
    if len(mod_inputs) != len(seen["inputs"]):
        raise TypeError("fusionlens_capture: the module takes non-tensor arguments; "
                        "FusionLens replays tensor inputs only")
    outputs = _flatten(seen["output"], [])
    if not outputs:
        raise TypeError("fusionlens_capture: the module returned no tensor")

    tensors = [("input.%d" % i, t) for i, t in enumerate(mod_inputs)]
    tensors += [("output.%d" % i, t) for i, t in enumerate(outputs)]
    tensors += [("state." + k, v) for k, v in module.state_dict().items()]
    if image is not None:
        if not isinstance(image, torch.Tensor):
            raise TypeError("fusionlens_capture: image must be a tensor")
        tensors.append(("image", image))

    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(module).__name__,
        "qualname": type(module).__module__ + "." + type(module).__qualname__,
        "module_path": module_path,
        "init_args": json.dumps(_init_args(module)),
        "torch_version": torch.__version__,
    }
    was_training = module.training
    module.eval()
    try:
        traced = torch.jit.trace(module, tuple(t.detach() for t in mod_inputs),
                                 check_trace=False, strict=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        tensors.append(("script", torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)))
    except Exception as e:  # a module that cannot be traced is still checked
        meta["trace_error"] = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]
    finally:
        module.train(was_training)
    write_safetensors(path, tensors, meta)
    return path

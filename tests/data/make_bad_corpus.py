#!/usr/bin/python3
"""Writes tests/data/bad/: malformed, hostile and lying files that FusionLens must refuse
cleanly (exit 2, one stderr line naming the file and the problem, no crash, no big
allocation), plus tests/data/bad/manifest.json saying what each must produce.

Run with Debian's interpreter (it has torch): /usr/bin/python3 tests/data/make_bad_corpus.py
The output is deterministic and small (about 120 KiB in all); the files are committed so
the fuzzers can start from them (tests/fuzz/).

manifest.json: {"files": [{"file", "use", "run", "inspect"}]}
  use      "input" (run --module eca --input FILE), "weights" (run --module aff --weights FILE)
           or "script" (run --script FILE --input X, X a 1x16x5x7 .npy)
  run      list of substrings the one stderr line must contain (besides the file name), or
           {"warn": substring} when the run succeeds with a warning (NaN/Inf inputs)
  inspect  list of substrings for `inspect FILE` (which must also exit 2), or "ok" when the
           file is well-formed and only its content is unusable (inspect lists it, exit 0)
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib
from collections import OrderedDict

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad")
MANIFEST = []


def put(name, data, use, run, inspect):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    MANIFEST.append({"file": name, "use": use, "run": run, "inspect": inspect})


# --- .npy ------------------------------------------------------------------------------

def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_header(header, version=1):
    """A .npy with a hand-written header dict (padded like numpy does) and no data."""
    text = header.encode("latin1")
    if version == 1:
        pad = (64 - (10 + len(text) + 1) % 64) % 64
        text += b" " * pad + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text
    pad = (64 - (12 + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(text)) + text


def make_npy():
    good = npy_bytes(np.ones((4, 5, 6), dtype=np.float32))
    put("npy_truncated.npy", good[: len(good) - 37], "input", ["needs 480 bytes", "holds"],
        ["needs 480 bytes"])
    put("npy_bad_magic.npy", b"\x93NUMPZ" + good[6:], "input", ["bad magic"], ["bad magic"])
    put("npy_empty.npy", b"", "input", ["too short"], ["too short"])
    put("npy_header_beyond_file.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'", "input",
        ["beyond the file"], ["beyond the file"])
    put("npy_v2_header_4gb.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}", "input", ["header"],
        ["header"])
    put("npy_unknown_version.npy", b"\x93NUMPY\x09\x00" + good[8:], "input", ["version"],
        ["version"])
    # numpy reads only format versions 1.0, 2.0 and 3.0 (numpy.lib.format._check_version).
    put("npy_version_1_1.npy", b"\x93NUMPY\x01\x01" + good[8:], "input", ["version 1.1"],
        ["version 1.1"])
    put("npy_absurd_shape.npy",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"),
        "input", ["needs 4000000000000000 bytes", "holds 0 data bytes"], ["needs"])
    put("npy_16gb_claim.npy",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64, 8192, 8192), }")
        + b"\0" * 64, "input", ["needs 17179869184 bytes"], ["needs 17179869184 bytes"])
    put("npy_shape_overflow.npy",
        npy_header("{'descr': '<f8', 'fortran_order': False, "
                   "'shape': (4294967296, 4294967296, 4294967296), }"),
        "input", ["too many elements"], ["too many elements"])
    put("npy_empty_shape_overflow.npy",  # no bytes, yet the non-zero sizes overflow int64
        npy_header("{'descr': '<u2', 'fortran_order': False, "
                   "'shape': (2, 3, 0, 42294967296, 4294967296), }"),
        "input", ["too many elements"], ["too many elements"])
    put("npy_negative_dim.npy",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }"), "input",
        ["malformed .npy header"], ["malformed .npy header"])
    put("npy_garbage_header.npy", npy_header("not a dict at all"), "input",
        ["malformed .npy header"], ["malformed .npy header"])
    put("npy_structured_dtype.npy",
        npy_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"),
        "input", ["structured"], ["structured"])
    put("npy_object_dtype.npy",
        npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }") + b"\0" * 16,
        "input", ["unsupported dtype '|O'"], ["unsupported dtype"])
    put("npy_unicode_dtype.npy", npy_bytes(np.array(["ab", "cd"])), "input",
        ["unsupported dtype '<U2'"], ["unsupported dtype"])
    put("npy_complex.npy", npy_bytes(np.ones((2, 3), dtype=np.complex64)), "input",
        ["unsupported dtype '<c8'"], ["unsupported dtype"])
    bad_bool = bytearray(npy_bytes(np.ones((3, 3), dtype=bool)))
    bad_bool[-1] = 7
    put("npy_bool_byte_7.npy", bytes(bad_bool), "input", ["byte other than 0 or 1"],
        ["byte other than 0 or 1"])
    put("npy_bool.npy", npy_bytes(np.ones((3, 3), dtype=bool)), "input", ["boolean"], "ok")
    put("npy_five_dims.npy", npy_bytes(np.zeros((1, 1, 2, 2, 2), dtype=np.float32)), "input",
        ["[H,W], [C,H,W] or [B,C,H,W]"], "ok")
    put("npy_zero_size.npy", npy_bytes(np.zeros((0, 4), dtype=np.float32)), "input",
        ["tensor is empty"], "ok")
    put("npy_one_dim.npy", npy_bytes(np.zeros(7, dtype=np.float32)), "input",
        ["expected [H,W]"], "ok")
    nan = np.zeros((1, 8, 4, 4), dtype=np.float32)
    nan[0, 2, 1, 1] = np.nan
    put("npy_nan.npy", npy_bytes(nan), "input", {"warn": "NaN or Inf"}, "ok")
    inf = np.zeros((8, 4, 4), dtype=np.float64)
    inf[3, 0, 0] = -np.inf
    put("npy_inf.npy", npy_bytes(inf), "input", {"warn": "NaN or Inf"}, "ok")


# --- .safetensors ----------------------------------------------------------------------

def st(header, data=b"", length=None):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def make_safetensors():
    put("st_header_len_beyond.safetensors", struct.pack("<Q", 100000) + b'{"a":', "input",
        ["header"], ["header"])
    put("st_header_len_2_63.safetensors", struct.pack("<Q", 1 << 63) + b"{}", "input",
        ["header"], ["header"])
    put("st_tiny.safetensors", b"\x05\x00\x00", "input", ["safetensors"], ["safetensors"])
    put("st_bad_json.safetensors", struct.pack("<Q", 12) + b'{"x": [1, 2', "input",
        ["beyond the file"], ["beyond the file"])
    put("st_not_object.safetensors", st([1, 2, 3]), "input", ["object"], ["object"])
    put("st_offsets_beyond.safetensors",
        st({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1 << 40]}}, b"\0" * 16),
        "input", ["x"], ["x"])
    put("st_shape_vs_offsets.safetensors",
        st({"x": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 16]}}, b"\0" * 16),
        "input", ["x"], ["x"])
    put("st_absurd_shape.safetensors",
        st({"x": {"dtype": "F32", "shape": [1 << 31, 1 << 31, 1 << 31],
                  "data_offsets": [0, 16]}}, b"\0" * 16), "input", ["x"], ["x"])
    put("st_empty_shape_overflow.safetensors",
        st({"x": {"dtype": "F32", "shape": [0, 1 << 32, 1 << 32], "data_offsets": [0, 0]}}),
        "input", ["absurd shape"], ["absurd shape"])
    put("st_unknown_dtype.safetensors",
        st({"x": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4),
        "input", ["F8_E4M3"], ["F8_E4M3"])
    put("st_negative_shape.safetensors",
        st({"x": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16),
        "input", ["x"], ["x"])
    put("st_overlapping.safetensors",
        st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24),
        "input", ["safetensors"], ["safetensors"])
    # As the safetensors library: the tensors' bytes must cover the data exactly, so nothing
    # (a second file format, say) can hide after or between them.
    put("st_trailing_bytes.safetensors",
        st({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16 + b"PK\x05\x06" + b"\0" * 18),
        "input", ["bytes after its last tensor"], ["bytes after its last tensor"])
    put("st_gap.safetensors",
        st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}, b"\0" * 24),
        "input", ["unused bytes between tensors"], ["unused bytes between tensors"])


class TinyNet(torch.nn.Module):
    """Saved whole with torch.save(model): a pickled object, not a state_dict."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)


# --- zip: .npz and torch.save archives -------------------------------------------------

def zip_bytes(entries, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            # A fixed timestamp: the corpus must come out byte-identical on every run.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def lying_uncompressed_size(data, name, size):
    """Patches the declared uncompressed size of entry `name` (local and central header)."""
    data = bytearray(data)
    nb = name.encode()
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while True:
            pos = data.find(sig, pos)
            if pos < 0:
                break
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(nb)] == nb:
                data[pos + off:pos + off + 4] = struct.pack("<I", size)
            pos += 4
    return bytes(data)


def overlapping_bomb():
    """Fifield-style non-recursive bomb: many central-directory entries whose data is one
    shared deflate stream (4 MiB of zeros each), a few KiB on disk."""
    payload = npy_bytes(np.zeros((1024, 1024), dtype=np.float32))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = comp.compress(payload) + comp.flush()
    crc = zlib.crc32(payload)
    n = 64
    out = bytearray()
    central = bytearray()
    # Each local header's data starts inside the previous one's: overlapping entries.
    offsets = []
    body = bytearray()
    for i in range(n):
        name = f"a{i:03d}.npy".encode()
        offsets.append(len(body))
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(stream),
                            len(payload), len(name), 0) + name
    first_data = len(body)
    body += stream
    for i in range(n):
        name = f"a{i:03d}.npy".encode()
        # Every entry claims the stream right after the last local header.
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                               len(stream) + (first_data - offsets[i] - 30 - len(name)),
                               len(payload), len(name), 0, 0, 0, 0, 0, offsets[i]) + name
    out = body + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                                       len(body), 0)
    return bytes(out)


def torch_zip(pickle_bytes, storages=(), folder="archive"):
    entries = [(f"{folder}/data.pkl", pickle_bytes)]
    entries += [(f"{folder}/data/{k}", v) for k, v in storages]
    entries += [(f"{folder}/version", b"3\n")]
    return zip_bytes(entries)


def evil_pickle(module, name, args=("touch /tmp/fusionlens_pwned",)):
    """Protocol-2 pickle of {'w': module.name(*args)} written opcode by opcode."""
    out = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01"
    out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    out += pickle.dumps(tuple(args), protocol=2)[2:-1]
    out += b"R" + b"s."
    return out


class StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def rebuild(storage, size, stride):
    return TensorReduce(storage, size, stride)


class TensorReduce:
    def __init__(self, storage, size, stride):
        self.args = (storage, 0, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def tensor_pickle(entries):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(OrderedDict(entries))
    return buf.getvalue()


def set_copy_bomb(items, copies):
    """[set(L), set(L), ...] for one memoised list L of `items` Nones: each call copies L."""
    out = b"\x80\x02](" + b"N" * items + b"eq\x00c__builtin__\nset\nq\x010]("
    out += b"h\x01h\x00\x85R" * copies
    return out + b"e."


def long_key_paths(key_len, depth):
    """{'a': {K: {K: ... None}}}: one memoised key nested `depth` deep, so the dotted path
    of the innermost value is depth * key_len characters."""
    key = b"." * key_len
    out = b"\x80\x02}X" + struct.pack("<I", key_len) + key + b"q\x000X\x01\x00\x00\x00a"
    out += b"}h\x00" * depth
    return out + b"N" + b"s" * (depth + 1) + b"."


def make_zips():
    x = npy_bytes(np.ones((4, 5, 6), dtype=np.float32))
    put("npz_lying_size.npz", lying_uncompressed_size(
        zip_bytes([("x.npy", x)], zipfile.ZIP_DEFLATED), "x.npy", 0xFFFFFFF0), "input",
        ["more than DEFLATE can produce"], ["more than DEFLATE can produce"])
    put("npz_overlap_bomb.npz", overlapping_bomb(), "input", ["overlap"], ["overlap"])
    big = np.zeros((1, 1, 256, 256), dtype=np.float32)
    real = zip_bytes([("x.npy", npy_bytes(big))], zipfile.ZIP_DEFLATED)
    put("npz_understated_size.npz", lying_uncompressed_size(real, "x.npy", 4096), "input",
        ["x.npy"], ["x.npy"])
    stored = bytearray(zip_bytes([("x.npy", x)]))
    stored[stored.find(b"\x93NUMPY") + 200] ^= 0xFF  # flip a data byte: CRC mismatch
    put("npz_bad_crc.npz", bytes(stored), "input", ["CRC"], ["CRC"])
    good = zip_bytes([("x.npy", x), ("y.npy", x)])
    put("npz_truncated.npz", good[: len(good) // 2], "input", ["npz_truncated.npz"],
        ["npz_truncated.npz"])
    put("npz_not_npy_inside.npz", zip_bytes([("x.npy", b"hello, world")]), "input",
        ["not a .npy file"], ["not a .npy file"])
    put("npz_text_entry.npz", zip_bytes([("readme.txt", b"hi")]), "input", ["not an .npy"],
        ["not an .npy"])
    eocd = bytearray(good)
    pos = eocd.rfind(b"PK\x05\x06")
    eocd[pos + 16:pos + 20] = struct.pack("<I", 0x7FFFFFF0)  # central directory far away
    put("npz_bad_directory_offset.npz", bytes(eocd), "input", ["npz_bad_directory_offset"],
        ["npz_bad_directory_offset"])

    # torch.save archives used as --weights
    buf = io.BytesIO()
    torch.save(OrderedDict(w=torch.ones(3, 3)), buf)
    pt = buf.getvalue()
    put("pt_truncated.pt", pt[: len(pt) // 2], "weights", ["pt_truncated.pt"],
        ["pt_truncated.pt"])
    put("pt_legacy_format.pt", b"\x80\x02\x8a\x0alm\xfc\x9cF\xf9 j\xa8P\x19.", "weights",
        ["legacy"], ["legacy"])
    put("pt_text.pt", b"this is not a checkpoint\n", "weights", ["neither a torch.save"],
        ["neither a torch.save"])
    put("pt_empty.pt", b"", "weights", ["is empty"], ["is empty"])
    put("pt_os_system.pt", torch_zip(evil_pickle("os", "system")), "weights",
        ["pickle global 'os.system' is not allowed"], ["'os.system' is not allowed"])
    put("pt_posix_system.pt", torch_zip(evil_pickle("posix", "system")), "weights",
        ["'posix.system' is not allowed"], ["'posix.system' is not allowed"])
    put("pt_builtins_eval.pt", torch_zip(evil_pickle("builtins", "eval", ("1+1",))), "weights",
        ["'builtins.eval' is not allowed"], ["'builtins.eval' is not allowed"])
    put("pt_builtins_exec.pt", torch_zip(evil_pickle("builtins", "exec", ("x=1",))), "weights",
        ["'builtins.exec' is not allowed"], ["'builtins.exec' is not allowed"])
    put("pt_subprocess_popen.pt",
        torch_zip(evil_pickle("subprocess", "Popen", (["touch", "/tmp/fusionlens_pwned"],))),
        "weights", ["'subprocess.Popen' is not allowed"], ["'subprocess.Popen' is not allowed"])
    put("pt_getattr.pt", torch_zip(evil_pickle("builtins", "getattr", ("os", "system"))),
        "weights", ["'builtins.getattr' is not allowed"], ["'builtins.getattr' is not allowed"])
    put("pt_importlib.pt",
        torch_zip(evil_pickle("importlib", "import_module", ("os",))), "weights",
        ["'importlib.import_module' is not allowed"], ["not allowed"])
    put("pt_numpy_reconstruct.pt",
        torch_zip(evil_pickle("numpy.core.multiarray", "_reconstruct", (0,))), "weights",
        ["'numpy.core.multiarray._reconstruct' is not allowed"], ["not allowed"])
    put("pt_stack_underflow.pt", torch_zip(b"\x80\x02a."), "weights", ["pt_stack_underflow.pt"],
        ["pt_stack_underflow.pt"])
    put("pt_unknown_memo.pt", torch_zip(b"\x80\x02h\x05."), "weights", ["memo"], ["memo"])
    put("pt_huge_string_length.pt", torch_zip(b"\x80\x02X\xff\xff\xff\xffabc."), "weights",
        ["pt_huge_string_length.pt"], ["pt_huge_string_length.pt"])
    put("pt_deep_nesting.pt", torch_zip(b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."),
        "weights", ["deep"], ["deep"])
    put("pt_no_stop.pt", torch_zip(b"\x80\x02}q\x00"), "weights", ["pt_no_stop.pt"],
        ["pt_no_stop.pt"])
    put("pt_storage_numel_lie.pt",
        torch_zip(tensor_pickle([("w", rebuild(StorageRef("0", 10 ** 12), [10 ** 6, 10 ** 6],
                                               [10 ** 6, 1]))]), [("0", b"\0" * 16)]),
        "weights", ["holds 16 bytes but the pickle describes 1000000000000"],
        ["holds 16 bytes but the pickle describes"])
    put("pt_view_past_storage.pt",
        torch_zip(tensor_pickle([("w", rebuild(StorageRef("0", 4), [1000, 1000], [1000, 1]))]),
                  [("0", b"\0" * 16)]),
        "weights", ["past its storage"], ["past its storage"])
    put("pt_missing_storage.pt",
        torch_zip(tensor_pickle([("w", rebuild(StorageRef("7", 4), [2, 2], [2, 1]))])),
        "weights", ["is missing from the archive"], ["is missing from the archive"])
    put("pt_storage_lying_size.pt", lying_uncompressed_size(
        zip_bytes([("archive/data.pkl", tensor_pickle(
            [("w", rebuild(StorageRef("0", 1 << 28), [1 << 14, 1 << 14], [1 << 14, 1]))])),
                   ("archive/data/0", b"\0" * 64)], zipfile.ZIP_DEFLATED),
        "archive/data/0", 1 << 30), "weights", ["more than DEFLATE can produce"],
        ["more than DEFLATE can produce"])
    put("pt_storage_claims_4gb.pt", lying_uncompressed_size(  # allocated before checked, once
        zip_bytes([("archive/data.pkl", tensor_pickle(
            [("w", rebuild(StorageRef("0", 0x3FFFFFFC), [1 << 14, 1 << 14], [1 << 14, 1]))])),
                   ("archive/data/0", b"\0" * 64)], zipfile.ZIP_DEFLATED),
        "archive/data/0", 0xFFFFFFF0), "weights", ["more than DEFLATE can produce"],
        ["more than DEFLATE can produce"])
    # torch.save(model): the class is named and the fix is said.
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(TinyNet(), buf)
    put("pt_whole_model.pt", buf.getvalue(), "weights",
        ["whole pickled model object (class __main__.TinyNet)", "model.state_dict()"],
        ["whole pickled model object (class __main__.TinyNet)"])
    # A list of 400,000 Nones (compressed: a few hundred bytes): no tensors, only objects.
    # Unbounded, 12 million of them took 2.6 GB; refused at the object cap, naming the count.
    nones = b"\x80\x02](" + b"N" * 400000 + b"e."
    put("pt_million_nones.pt", zip_bytes([("archive/data.pkl", nones)], zipfile.ZIP_DEFLATED),
        "weights", ["objects for 0 tensor storages"], ["objects for 0 tensor storages"])
    put("pt_list_root.pt", torch_zip(pickle.dumps([1, 2, 3], protocol=2)), "weights",
        ["none of the module's"], "ok")
    put("pt_no_data_pkl.pt", zip_bytes([("archive/other.txt", b"x")]), "weights",
        ["data.pkl"], ["data.pkl"])

    # Found by fuzzing (tests/fuzz/) or while fixing what it found: files that multiply a
    # few bytes into gigabytes once read.
    put("pt_expand_bomb.pt",  # one stored float viewed as 2^32 of them (zero strides)
        torch_zip(tensor_pickle([("w", rebuild(StorageRef("0", 1), [1 << 16, 1 << 16],
                                               [0, 0]))]), [("0", b"\0" * 4)]),
        "input", ["repeats its storage of 1 elements"], ["repeats its storage"])
    put("pt_huge_strides.pt",  # 64 dims of size and stride 2^62 (overflowed the bound check)
        torch_zip(tensor_pickle([("w", rebuild(StorageRef("0", 4), [1 << 62] * 64,
                                               [1 << 62] * 64))]), [("0", b"\0" * 16)]),
        "weights", ["more than 2^63 elements"], ["more than 2^63 elements"])
    put("pt_set_copy_bomb.pt", torch_zip(set_copy_bomb(1000, 100)), "weights",
        ["builtins.set() calls copy more than", "memory-exhaustion"], ["memory-exhaustion"])
    put("pt_long_key_paths.pt", torch_zip(long_key_paths(60000, 250)), "weights",
        ["none of the module's"], "ok")


# --- images that are not images ---------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_images():
    put("text.png", b"just some text, not a picture\n", "input", ["text.png"], ["text.png"])
    put("empty.jpg", b"", "input", ["empty.jpg"], ["empty.jpg"])
    put("truncated.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
        "input", ["truncated.jpg"], ["truncated.jpg"])
    ihdr = struct.pack(">IIBBBBB", 200000, 200000, 8, 2, 0, 0, 0)
    huge = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
    put("huge_dimensions.png", huge, "input", ["huge_dimensions.png"], ["huge_dimensions.png"])
    put("npy_named.png", npy_bytes(np.ones((3, 4, 4), dtype=np.float32)), "input",
        ["npy_named.png"], ["npy_named.png"])
    bmp = b"BM" + struct.pack("<IHHI", 1 << 30, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0)
    put("lying_header.bmp", bmp, "input", ["lying_header.bmp"], ["lying_header.bmp"])
    make_truncated_images()


def small_image(ext, **kw):
    """A 64x48 noise image encoded by OpenCV-free means (PIL), deterministic."""
    from PIL import Image
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=ext, **kw)
    return buf.getvalue()


def make_truncated_images():
    # Cut in half: the decoders print their own complaints and fill the rest with grey; the
    # pre-check refuses them (exit 2, our one line, the library quiet).
    for name, fmt, kw, why in [
            ("truncated_half.png", "PNG", {}, "IEND"),
            ("truncated_half.jpg", "JPEG", {"quality": 90}, "end-of-image"),
            ("truncated_half.bmp", "BMP", {}, "pixel array"),
            ("truncated_half.tif", "TIFF", {}, "strip or tile")]:
        data = small_image(fmt, **kw)
        if fmt == "TIFF":  # PIL writes the IFD after the strips: cut the strip itself
            data = bytearray(data)
            ifd = struct.unpack("<I", data[4:8])[0]
            n = struct.unpack("<H", data[ifd:ifd + 2])[0]
            for i in range(n):
                e = ifd + 2 + 12 * i
                tag, typ, cnt = struct.unpack("<HHI", data[e:e + 8])
                if tag == 279:  # StripByteCounts: claim twice the bytes
                    (v,) = struct.unpack("<I", data[e + 8:e + 12])
                    data[e + 8:e + 12] = struct.pack("<I", v * 2 + len(data))
            put(name, bytes(data), "input", ["is truncated", why], ["is truncated", why])
        else:
            put(name, data[: len(data) // 2], "input", ["is truncated", why], ["is truncated", why])
    # Tiles far larger than the image: libtiff would allocate for them (and complain).
    data = bytearray(small_image("TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd:ifd + 2])[0]
    entries = [bytes(data[ifd + 2 + 12 * i: ifd + 14 + 12 * i]) for i in range(n)]
    entries += [struct.pack("<HHII", 322, 4, 1, 1 << 30), struct.pack("<HHII", 323, 4, 1, 1 << 30)]
    entries.sort(key=lambda e: struct.unpack("<H", e[:2])[0])
    new_ifd = len(data)
    data += struct.pack("<H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    data[4:8] = struct.pack("<I", new_ifd)
    put("tiff_absurd_tiles.tif", bytes(data), "input", ["invalid TIFF tile size"],
        ["invalid TIFF tile size"])
    # 1,048,576 x 1: libpng's own limit is 1,000,000 per side; said as such, not "corrupt".
    ihdr = struct.pack(">IIBBBBB", 1 << 20, 1, 8, 0, 0, 0, 0)
    wide = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(b"\0" * ((1 << 20) + 1))) + png_chunk(b"IEND", b""))
    put("png_1048576_wide.png", wide, "input", ["PNG sides are 1 to 1000000"],
        ["PNG sides are 1 to 1000000"])


# --- TorchScript files (issue 13: a TorchScript file is a program) --------------------------

class _Gate(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class _Printer(_Gate):
    def forward(self, x):
        print("running code from the file")
        return x * torch.sigmoid(self.conv(x))


def scripted(module):
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module.eval()), buf)
    return buf.getvalue()


def rezip(data, edit):
    """The archive's entries rewritten (stored, in order) with edit(name, bytes) -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            dst.writestr(entry, edit(info.filename, src.read(info)))
    return out.getvalue()


def make_torchscript():
    good = scripted(_Gate())
    put("ts_truncated.pt", good[: len(good) // 2], "script", ["truncated zip archive"],
        ["truncated zip archive"])
    # the weight's storage record cut to half its bytes, the archive otherwise consistent:
    # torch::jit::load would run with uninitialised weights (issue 17, item 5)
    weight = max((n for n in zipfile.ZipFile(io.BytesIO(good)).namelist() if "/data/" in n),
                 key=lambda n: zipfile.ZipFile(io.BytesIO(good)).getinfo(n).file_size)
    cut = rezip(good, lambda n, b: b[: len(b) // 2] if n == weight else b)
    put("ts_storage_cut.pt", cut, "script", ["has 4608 bytes but its tensors need 9216"],
        ["has 4608 bytes but its tensors need 9216"])
    # print() in forward: prim::Print is not tensor maths, refused by name before running
    put("ts_print_op.pt", scripted(_Printer()), "script", ["prim::Print"], ["prim::Print"])
    # the code entry calling an operator no library registers
    unknown = rezip(good, lambda n, b: b.replace(b"torch.sigmoid(", b"ops.fl_evil.run(")
                    if n.endswith(".py") else b)
    put("ts_unknown_op.pt", unknown, "script", ["Unknown builtin op: fl_evil::run", "line 10"],
        ["Unknown builtin op: fl_evil::run"])
    # the code entry replaced by text that is not TorchScript
    garbage = rezip(good, lambda n, b: b"def forward(self, x:\n  return ((\n"
                    if n.endswith(".py") else b)
    put("ts_code_garbage.pt", garbage, "script", ["expected ident", "code/__torch__.py"],
        ["expected ident"])


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    make_npy()
    make_safetensors()
    make_zips()
    make_images()
    make_torchscript()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"files": MANIFEST}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, m["file"])) for m in MANIFEST)
    print(f"{len(MANIFEST)} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    sys.exit(main())

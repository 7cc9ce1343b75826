#!/usr/bin/env python3
"""The OCI image of the filter, in the "compat" form Istio's WasmPlugin pulls, without docker.

  oci.py build WASM OUT VERSION    writes the image layout OUT (oci-layout, index.json, blobs/)
  oci.py check LAYOUT WASM         checks every digest and size, the compat annotation, and that
                                   the single layer unpacks to exactly WASM as plugin.wasm
  oci.py tamper LAYOUT WASM DIR    copies LAYOUT into DIR once per kind of damage (a layer byte,
                                   a size, the annotation, a second layer, another module) and
                                   checks that `check` refuses every copy
  oci.py roundtrip LAYOUT WASM DIR pushes the image to a registry on loopback (Debian's
                                   docker-registry, run in DIR) with skopeo, pulls it back into
                                   DIR/pulled and checks the copy as above

The compat form is an ordinary image: one tar+gzip layer holding `plugin.wasm`, and the
manifest annotation `module.wasm.image/variant: compat`. Istio also pulls a 2-layer "oci"
variant with custom media types; plain wasm-to-oci artifacts it does not accept. The build is
reproducible: the same module always gives the same digests (tar and gzip times are 0).
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
VARIANT = "module.wasm.image/variant"
REF_NAME = "org.opencontainers.image.ref.name"


class Bad(Exception):
    pass


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(wasm):
    """The layer's tar: plugin.wasm alone, with fixed owner, mode and time."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("plugin.wasm")
        info.size = len(wasm)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        t.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def build(wasm_path, out, version):
    wasm = open(wasm_path, "rb").read()
    tar = layer_tar(wasm)
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({
        "architecture": "wasm",
        "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        "config": {},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": "plugin.wasm"}}],
        "annotations": {VARIANT: "compat", "org.opencontainers.image.title": "h2mux",
                        "org.opencontainers.image.version": version},
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{"mediaType": MANIFEST, "digest": digest(manifest), "size": len(manifest),
                       "annotations": {REF_NAME: version}}],
    }, sort_keys=True).encode()
    shutil.rmtree(out, ignore_errors=True)
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    for blob in (config, layer, manifest):
        with open(os.path.join(blobs, digest(blob).split(":")[1]), "wb") as f:
            f.write(blob)
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(index)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return digest(manifest)


def blob(layout, desc, media_type):
    """A descriptor's blob, its media type, size and digest checked."""
    if desc.get("mediaType") != media_type:
        raise Bad(f"media type {desc.get('mediaType')!r}, {media_type} expected")
    algo, _, hexd = desc.get("digest", "").partition(":")
    if algo != "sha256" or len(hexd) != 64:
        raise Bad(f"digest {desc.get('digest')!r}")
    try:
        data = open(os.path.join(layout, "blobs", "sha256", hexd), "rb").read()
    except OSError as e:
        raise Bad(f"blob {hexd}: {e}")
    if len(data) != desc.get("size"):
        raise Bad(f"blob {hexd}: {len(data)} bytes, the descriptor says {desc.get('size')}")
    if digest(data) != desc["digest"]:
        raise Bad(f"blob {hexd}: its content hashes to {digest(data)}")
    return data


def check(layout, wasm_path):
    """Checks the layout; returns (manifest digest, wasm sha256)."""
    wasm = open(wasm_path, "rb").read()
    layout_file = json.load(open(os.path.join(layout, "oci-layout")))
    if layout_file.get("imageLayoutVersion") != "1.0.0":
        raise Bad(f"oci-layout: {layout_file}")
    index = json.load(open(os.path.join(layout, "index.json")))
    if index.get("schemaVersion") != 2 or len(index.get("manifests", [])) != 1:
        raise Bad(f"index.json: {index}")
    mdesc = index["manifests"][0]
    manifest = json.loads(blob(layout, mdesc, MANIFEST))
    if manifest.get("schemaVersion") != 2 or manifest.get("mediaType") != MANIFEST:
        raise Bad(f"manifest: {manifest}")
    if manifest.get("annotations", {}).get(VARIANT) != "compat":
        raise Bad(f"manifest annotations: {manifest.get('annotations')}")
    config = json.loads(blob(layout, manifest["config"], CONFIG))
    layers = manifest.get("layers", [])
    if len(layers) != 1:
        raise Bad(f"{len(layers)} layers; the compat form has exactly one")
    tar = gzip.decompress(blob(layout, layers[0], LAYER))
    if config.get("rootfs", {}).get("diff_ids") != [digest(tar)]:
        raise Bad(f"config diff_ids {config.get('rootfs')} for a layer of {digest(tar)}")
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        members = t.getmembers()
        if [m.name for m in members] != ["plugin.wasm"] or not members[0].isfile():
            raise Bad(f"layer holds {[m.name for m in members]}, only plugin.wasm expected")
        got = t.extractfile(members[0]).read()
    if got != wasm:
        raise Bad(f"plugin.wasm ({len(got)} bytes, {digest(got)}) differs from {wasm_path} "
                  f"({len(wasm)} bytes, {digest(wasm)})")
    return mdesc["digest"], hashlib.sha256(wasm).hexdigest()


def rewrite_json(path, change):
    data = json.load(open(path))
    change(data)
    with open(path, "w") as f:
        json.dump(data, f)


def manifest_path(layout):
    index = json.load(open(os.path.join(layout, "index.json")))
    return os.path.join(layout, "blobs", "sha256", index["manifests"][0]["digest"].split(":")[1])


def tamper(layout, wasm_path, work):
    """`check` must refuse each damaged copy (a test that can fail); returns how many."""
    manifest = json.load(open(manifest_path(layout)))
    layer_hex = manifest["layers"][0]["digest"].split(":")[1]

    def flip_layer_byte(d):
        p = os.path.join(d, "blobs", "sha256", layer_hex)
        data = bytearray(open(p, "rb").read())
        data[len(data) // 2] ^= 1
        open(p, "wb").write(data)

    def index_size(d):
        rewrite_json(os.path.join(d, "index.json"),
                     lambda i: i["manifests"][0].update(size=i["manifests"][0]["size"] + 1))

    def drop_variant(d):
        # The manifest changes, so its digest in index.json is made to match again: only
        # the missing annotation is wrong.
        p = manifest_path(d)
        m = json.load(open(p))
        del m["annotations"][VARIANT]
        data = json.dumps(m, sort_keys=True).encode()
        os.remove(p)
        open(os.path.join(d, "blobs", "sha256", digest(data).split(":")[1]), "wb").write(data)
        rewrite_json(os.path.join(d, "index.json"), lambda i: i["manifests"][0].update(
            digest=digest(data), size=len(data)))

    def second_layer(d):
        p = manifest_path(d)
        m = json.load(open(p))
        m["layers"].append(m["layers"][0])
        data = json.dumps(m, sort_keys=True).encode()
        os.remove(p)
        open(os.path.join(d, "blobs", "sha256", digest(data).split(":")[1]), "wb").write(data)
        rewrite_json(os.path.join(d, "index.json"), lambda i: i["manifests"][0].update(
            digest=digest(data), size=len(data)))

    damages = {"a layer byte": flip_layer_byte, "the manifest's size": index_size,
               "no compat annotation": drop_variant, "a second layer": second_layer}
    for name, damage in damages.items():
        d = os.path.join(work, name.replace(" ", "-").replace("'", ""))
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(layout, d)
        damage(d)
        try:
            check(d, wasm_path)
        except (Bad, OSError, ValueError, KeyError, tarfile.TarError, EOFError):
            continue
        raise Bad(f"a layout with {name} damaged passed the check")
    other = os.path.join(work, "other.wasm")
    open(other, "wb").write(open(wasm_path, "rb").read() + b"\0")
    try:
        check(layout, other)
    except Bad:
        return len(damages) + 1
    raise Bad("the layout passed the check against another module")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def roundtrip(layout, wasm_path, work):
    """Push to a registry on loopback and pull back; the copy must check the same."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port = free_port()
    conf = os.path.join(work, "registry.yml")
    with open(conf, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {work}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n")
    log = open(os.path.join(work, "registry.log"), "w")
    reg = subprocess.Popen(["docker-registry", "serve", conf], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if reg.poll() is not None or time.monotonic() > deadline:
                    raise Bad(f"docker-registry did not listen (log: {log.name})")
                time.sleep(0.1)
        index = json.load(open(os.path.join(layout, "index.json")))
        tag = index["manifests"][0]["annotations"][REF_NAME]
        remote = f"docker://127.0.0.1:{port}/h2mux:{tag}"
        pulled = os.path.join(work, "pulled")

        def skopeo(*args):
            p = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise Bad(f"skopeo {' '.join(args)}: {p.stderr.strip()}")
            return p.stdout

        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", remote)
        raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", remote))
        if raw.get("annotations", {}).get(VARIANT) != "compat":
            raise Bad(f"the registry's manifest lost the compat annotation: {raw}")
        skopeo("copy", "--src-tls-verify=false", remote, f"oci:{pulled}:{tag}")
        want = check(layout, wasm_path)
        got = check(pulled, wasm_path)
        if got != want:
            raise Bad(f"pulled manifest {got[0]}, pushed {want[0]}")
        return want, port
    finally:
        reg.terminate()
        reg.wait(timeout=10)


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "build":
            d = build(argv[2], argv[3], argv[4])
            print(f"{argv[3]}: OCI image layout (compat), manifest {d}")
        elif len(argv) == 4 and argv[1] == "check":
            d, w = check(argv[2], argv[3])
            print(f"{argv[2]}: every digest matches; manifest {d}; plugin.wasm sha256 {w}")
        elif len(argv) == 5 and argv[1] == "tamper":
            os.makedirs(argv[4], exist_ok=True)
            n = tamper(argv[2], argv[3], argv[4])
            print(f"{argv[2]}: {n} damaged copies, every one refused")
        elif len(argv) == 5 and argv[1] == "roundtrip":
            (d, w), port = roundtrip(argv[2], argv[3], argv[4])
            print(f"pushed to and pulled from a registry on 127.0.0.1:{port}: manifest {d}, "
                  f"plugin.wasm sha256 {w}, compat annotation kept")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (Bad, OSError, ValueError, KeyError, tarfile.TarError) as e:
        print(f"oci.py {argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

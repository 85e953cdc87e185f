"""Writes a one-layer OCI image layout tar that `ctr -n k8s.io images import` names by itself
(the index entry carries io.containerd.image.name): no registry is needed.

    k8s-oci-image.py busybox /bin/busybox OUT.tar    docker.io/library/localbb:latest
    k8s-oci-image.py pause PAUSE_BINARY OUT.tar VER  registry.k8s.io/pause:VER (user 65535)

Deterministic: every mtime 0, owner 0:0, so the same inputs give the same bytes.
"""
import hashlib
import io
import json
import sys
import tarfile


def add(t, name, data=None, mode=0o755, link=None, isdir=False):
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    if isdir:
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        t.addfile(ti)
    elif link:
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        ti.mode = 0o777
        t.addfile(ti)
    else:
        ti.size = len(data)
        ti.mode = mode
        t.addfile(ti, io.BytesIO(data))


def main(kind, binary, out, version=""):
    lb = io.BytesIO()
    with tarfile.open(fileobj=lb, mode="w", format=tarfile.GNU_FORMAT) as t:
        with open(binary, "rb") as f:
            data = f.read()
        if kind == "busybox":
            for d in ["bin", "tmp", "etc", "proc", "sys", "dev"]:
                add(t, d, isdir=True)
            add(t, "bin/busybox", data)
            for a in ["sh", "sleep", "cat", "id", "ls", "touch", "stat", "ps"]:
                add(t, "bin/" + a, link="busybox")
            config = {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}
            name, tag = "docker.io/library/localbb:latest", "latest"
        elif kind == "pause":
            add(t, "pause", data)
            config = {"Entrypoint": ["/pause"], "User": "65535:65535"}
            name, tag = "registry.k8s.io/pause:" + version, version
        else:
            raise SystemExit("kind must be busybox or pause, not " + kind)
    layer = lb.getvalue()
    ld = hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}).encode()
    cd = hashlib.sha256(cfg).hexdigest()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": len(layer)}]}).encode()
    md = hashlib.sha256(man).hexdigest()
    idx = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(man),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}}]}).encode()
    with tarfile.open(out + ".tmp", "w") as t:
        add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644)
        add(t, "index.json", idx, 0o644)
        add(t, "blobs", isdir=True)
        add(t, "blobs/sha256", isdir=True)
        for d, b in [(ld, layer), (cd, cfg), (md, man)]:
            add(t, "blobs/sha256/" + d, b, 0o644)
    import os
    os.replace(out + ".tmp", out)
    print(name, "sha256:" + md)


if __name__ == "__main__":
    main(*sys.argv[1:])

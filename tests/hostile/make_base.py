#!/usr/bin/env python3
"""Valid image archives written by an independent writer (Python's tarfile, gzip and json), for the hostile
corpus: none of repro's code is used, so the fixtures do not share the reader's assumptions.

The image model here is also what gen_corpus.py mutates: every builder takes `hooks`, functions that change
the JSON objects before they are serialized (digests and sizes are then recomputed from the new bytes) or
the blob records after (to make descriptors lie), or the final list of archive entries.

Formats written: BuildKit `oci` exporter archive, BuildKit `docker` exporter archive, Docker >= 25
`docker save`, legacy `docker save` (<= 24), a two-platform OCI archive (nested index), and OCI layout
directories. Everything is deterministic: mtime 0, uid/gid 0, fixed entry order, gzip without a name or time.
"""
import copy
import gzip
import hashlib
import io
import json
import os
import tarfile

MT = {
    'oci_index': 'application/vnd.oci.image.index.v1+json',
    'oci_manifest': 'application/vnd.oci.image.manifest.v1+json',
    'oci_config': 'application/vnd.oci.image.config.v1+json',
    'oci_layer_gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
    'oci_layer': 'application/vnd.oci.image.layer.v1.tar',
    'docker_manifest': 'application/vnd.docker.distribution.manifest.v2+json',
    'docker_config': 'application/vnd.docker.container.image.v1+json',
    'docker_layer_gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
}

RAW_PREFIX = '@@RAW:'


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def jdump(obj):
    """Compact JSON as BuildKit writes it; a string "@@RAW:tok@@" becomes the bare token `tok` (1e400, 2**53+1)."""
    text = json.dumps(obj, separators=(',', ':'), ensure_ascii=False)
    if RAW_PREFIX in text:
        out = []
        i = 0
        while True:
            j = text.find('"' + RAW_PREFIX, i)
            if j < 0:
                out.append(text[i:])
                break
            k = text.find('@@"', j + len(RAW_PREFIX) + 1)
            out.append(text[i:j])
            out.append(text[j + 1 + len(RAW_PREFIX):k])
            i = k + 3
        text = ''.join(out)
    return text.encode('utf-8', 'surrogatepass')


def raw(token):
    return RAW_PREFIX + token + '@@'


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode='wb', mtime=0, filename='', compresslevel=6) as f:
        f.write(data)
    return buf.getvalue()


class E:
    """One archive entry. type: file, dir, symlink, hardlink, fifo, chr, blk."""

    def __init__(self, name, data=b'', type='file', linkname='', mode=None, devmajor=0, devminor=0):
        self.name = name
        self.data = data
        self.type = type
        self.linkname = linkname
        self.mode = mode
        self.devmajor = devmajor
        self.devminor = devminor

    def copy(self):
        return copy.copy(self)


TYPES = {
    'file': tarfile.REGTYPE,
    'dir': tarfile.DIRTYPE,
    'symlink': tarfile.SYMTYPE,
    'hardlink': tarfile.LNKTYPE,
    'fifo': tarfile.FIFOTYPE,
    'chr': tarfile.CHRTYPE,
    'blk': tarfile.BLKTYPE,
}


def tarinfo(e):
    ti = tarfile.TarInfo(e.name)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ''
    ti.type = TYPES[e.type]
    ti.linkname = e.linkname
    ti.devmajor = e.devmajor
    ti.devminor = e.devminor
    if e.type == 'file':
        ti.size = len(e.data)
        ti.mode = 0o444 if e.mode is None else e.mode
    elif e.type == 'dir':
        ti.mode = 0o755 if e.mode is None else e.mode
    else:
        ti.mode = 0o777 if e.type == 'symlink' else 0o644
    return ti


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as t:
        for e in entries:
            ti = tarinfo(e)
            t.addfile(ti, io.BytesIO(e.data) if e.type == 'file' else None)
    return buf.getvalue()


def tar_members(data):
    """(name, header offset, data offset, size) of each member, read back with tarfile."""
    with tarfile.open(fileobj=io.BytesIO(data), mode='r:') as t:
        return [(m.name, m.offset, m.offset_data, m.size if m.isfile() else 0) for m in t.getmembers()]


def write_dir(entries, root):
    """An OCI layout directory from entries. Names that would leave root are refused (never written)."""
    os.makedirs(root, exist_ok=True)
    for e in entries:
        name = e.name
        if name.startswith('/') or '..' in name.split('/'):
            raise ValueError(f'refusing to write {name!r} outside {root}')
        p = os.path.join(root, name.rstrip('/'))
        parent = os.path.dirname(p)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        if e.type == 'dir':
            os.makedirs(p, exist_ok=True)
        elif e.type == 'file':
            if os.path.lexists(p):
                continue
            with open(p, 'wb') as f:
                f.write(e.data)
            os.chmod(p, 0o444 if e.mode is None else e.mode)
        elif e.type == 'symlink':
            os.symlink(e.linkname, p)
        elif e.type == 'hardlink':
            os.link(os.path.join(root, e.linkname), p)
        elif e.type == 'fifo':
            os.mkfifo(p)
        else:
            raise ValueError(f'cannot write a {e.type} into a layout directory')


# ---- the image: two layers (a gzip one and, for OCI, an uncompressed one) -------------------------------

def layer_tar(i):
    """A small root file system layer (dir, files, symlink, hardlink), itself written with tarfile."""
    if i == 0:
        entries = [
            E('app/', type='dir'),
            E('app/hello.txt', b'hello from the hostile corpus\n', mode=0o644),
            E('app/link', type='symlink', linkname='hello.txt'),
            E('app/hard', type='hardlink', linkname='app/hello.txt'),
            E('etc/', type='dir'),
            E('etc/os-release', b'ID=corpus\n', mode=0o644),
        ]
    elif i == 1:
        entries = [E('app/', type='dir'), E('app/data.bin', bytes(range(256)) * 8, mode=0o600)]
    else:
        entries = [E(f'layer{i}/', type='dir'), E(f'layer{i}/n', str(i).encode(), mode=0o644)]
    return tar_bytes(entries)


def blob_record(data, media_type):
    hx = sha256(data)
    return {'data': data, 'mediaType': media_type, 'digest': 'sha256:' + hx, 'path': 'blobs/sha256/' + hx, 'size': len(data)}


def descriptor(rec, **extra):
    d = {'mediaType': rec['mediaType'], 'digest': rec['digest'], 'size': rec['size']}
    d.update(extra)
    return d


def call(hooks, name, *args):
    fn = hooks.get(name)
    return fn(*args) if fn else None


def config_obj(arch, diff_ids, docker=False):
    cfg = {
        'architecture': arch,
        'config': {
            'Env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            'Cmd': ['/app/hello.txt'],
            'WorkingDir': '/app',
            'Labels': {'org.example.corpus': 'base'},
        },
        'created': '1970-01-01T00:00:00Z',
        'history': [
            {'created': '1970-01-01T00:00:00Z', 'created_by': 'COPY app/ /app/ # buildkit', 'comment': 'buildkit.dockerfile.v0'},
            {'created': '1970-01-01T00:00:00Z', 'created_by': 'COPY data.bin /app/ # buildkit', 'comment': 'buildkit.dockerfile.v0'},
        ],
        'os': 'linux',
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
    }
    if docker:
        cfg['config']['OnBuild'] = None
    return cfg


def image_blobs(hooks, arch='amd64', docker=False, n_layers=2, which=0):
    """Layers, config and manifest of one image: (manifest record, [all records]). `which` numbers the image."""
    layers = []
    for i in range(n_layers):
        rawtar = layer_tar(i)
        compressed = docker or i == 0
        data = gz(rawtar) if compressed else rawtar
        mt = (MT['docker_layer_gzip'] if docker else MT['oci_layer_gzip']) if compressed else MT['oci_layer']
        rec = blob_record(data, mt)
        rec['diffId'] = 'sha256:' + sha256(rawtar)
        rec['annotations'] = {}
        layers.append(rec)
    call(hooks, 'layers', layers, which)
    cfg = config_obj(arch, [l['diffId'] for l in layers], docker)
    cfg_raw = call(hooks, 'config', cfg, which)
    cfg_rec = blob_record(cfg_raw if cfg_raw is not None else jdump(cfg), MT['docker_config'] if docker else MT['oci_config'])
    call(hooks, 'config_rec', cfg_rec, which)
    man = {
        'schemaVersion': 2,
        'mediaType': MT['docker_manifest'] if docker else MT['oci_manifest'],
        'config': descriptor(cfg_rec),
        'layers': [descriptor(l, **({'annotations': l['annotations']} if l['annotations'] else {})) for l in layers],
    }
    man_raw = call(hooks, 'manifest', man, which)
    man_rec = blob_record(man_raw if man_raw is not None else jdump(man), man['mediaType'] if isinstance(man, dict) and isinstance(man.get('mediaType'), str) else MT['oci_manifest'])
    man_rec['platform'] = {'architecture': arch, 'os': 'linux'}
    man_rec['config'] = cfg_rec
    man_rec['layers'] = layers
    call(hooks, 'manifest_rec', man_rec, which)
    return man_rec, layers + [cfg_rec, man_rec]


def blob_entries(records):
    out = []
    seen = set()
    for r in records:
        p = r.get('path')
        if p is None or p in seen:
            continue
        seen.add(p)
        out.append(E(p, r['data']))
    return out


def layout_head(hooks, index, layers_dirs=True):
    layout = {'imageLayoutVersion': '1.0.0'}
    lraw = call(hooks, 'layout', layout)
    iraw = call(hooks, 'index', index)
    head = [E('blobs/', type='dir'), E('blobs/sha256/', type='dir')] if layers_dirs else []
    return head, E('oci-layout', lraw if lraw is not None else jdump(layout)), E('index.json', iraw if iraw is not None else jdump(index))


def build_oci(hooks=None, fmt='oci', tags=('hostile:base',)):
    """fmt: oci (BuildKit oci exporter), docker-exporter (BuildKit docker exporter), docker-save-oci (Docker >= 25)."""
    hooks = hooks or {}
    docker = fmt != 'oci'
    man_rec, records = image_blobs(hooks, docker=docker)
    ann = {'org.opencontainers.image.created': '1970-01-01T00:00:00Z'}
    if fmt != 'oci':
        ann['io.containerd.image.name'] = 'docker.io/library/' + tags[0]
        ann['org.opencontainers.image.ref.name'] = tags[0].split(':')[1]
    index = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [descriptor(man_rec, annotations=ann)]}
    head, layout_e, index_e = layout_head(hooks, index)
    entries = head + blob_entries(records) + [index_e]
    if fmt != 'oci':
        dm = [{'Config': man_rec['config']['path'], 'RepoTags': list(tags), 'Layers': [l['path'] for l in man_rec['layers']]}]
        dm_raw = call(hooks, 'docker_manifest', dm)
        entries.append(E('manifest.json', dm_raw if dm_raw is not None else jdump(dm), mode=0o644))
    entries.append(layout_e)
    if fmt == 'docker-save-oci':
        name, tag = tags[0].split(':')
        entries.append(E('repositories', jdump({name: {tag: man_rec['digest'].split(':')[1]}}), mode=0o644))
    out = call(hooks, 'entries', entries)
    return out if out is not None else entries


def build_multi(hooks=None):
    """A two-platform OCI archive: index.json -> nested index blob -> two manifests sharing nothing."""
    hooks = hooks or {}
    mans = []
    records = []
    for which, arch in enumerate(['amd64', 'arm64']):
        m, rs = image_blobs(hooks, arch=arch, which=which)
        mans.append(m)
        records += rs
    nested = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [descriptor(m, platform=m['platform']) for m in mans]}
    nraw = call(hooks, 'nested', nested)
    nrec = blob_record(nraw if nraw is not None else jdump(nested), MT['oci_index'])
    call(hooks, 'nested_rec', nrec)
    records.append(nrec)
    index = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [descriptor(nrec, annotations={'org.opencontainers.image.created': '1970-01-01T00:00:00Z'})]}
    head, layout_e, index_e = layout_head(hooks, index)
    entries = head + blob_entries(records) + [index_e, layout_e]
    out = call(hooks, 'entries', entries)
    return out if out is not None else entries


def build_legacy(hooks=None, tags=('hostile:base',), n_layers=2, link_layer=None):
    """Legacy `docker save` (<= 24): <id>/layer.tar (uncompressed), <id>/json, <id>/VERSION, <config>.json,
    manifest.json, repositories. link_layer=('symlink'|'hardlink', i, j): layer j repeats layer i's bytes and
    is stored as a link to it, as docker save does for identical layers."""
    hooks = hooks or {}
    raws = [layer_tar(i) for i in range(n_layers)]
    if link_layer:
        raws[link_layer[2]] = raws[link_layer[1]]
    layers = [{'data': r, 'diffId': 'sha256:' + sha256(r)} for r in raws]
    call(hooks, 'layers', layers, 0)
    diff_ids = [l['diffId'] for l in layers]
    ids = []
    parent = ''
    for l in layers:
        parent = sha256((parent + l['diffId']).encode())
        ids.append(parent)
    cfg = config_obj('amd64', diff_ids, docker=True)
    cfg_raw = call(hooks, 'config', cfg, 0)
    cfg_bytes = cfg_raw if cfg_raw is not None else jdump(cfg)
    cfg_name = sha256(cfg_bytes) + '.json'
    entries = []
    for i, (lid, l) in enumerate(zip(ids, layers)):
        entries.append(E(lid + '/', type='dir'))
        entries.append(E(lid + '/VERSION', b'1.0', mode=0o644))
        entries.append(E(lid + '/json', jdump({'id': lid, 'created': '1970-01-01T00:00:00Z'}), mode=0o644))
        if link_layer and i == link_layer[2]:
            src = ids[link_layer[1]]
            if link_layer[0] == 'symlink':
                entries.append(E(lid + '/layer.tar', type='symlink', linkname=f'../{src}/layer.tar'))
            else:
                entries.append(E(lid + '/layer.tar', type='hardlink', linkname=f'{src}/layer.tar'))
        else:
            entries.append(E(lid + '/layer.tar', l['data'], mode=0o644))
    entries.append(E(cfg_name, cfg_bytes, mode=0o644))
    dm = [{'Config': cfg_name, 'RepoTags': list(tags), 'Layers': [i + '/layer.tar' for i in ids]}]
    dm_raw = call(hooks, 'docker_manifest', dm)
    entries.append(E('manifest.json', dm_raw if dm_raw is not None else jdump(dm), mode=0o644))
    name, tag = tags[0].split(':')
    entries.append(E('repositories', jdump({name: {tag: ids[-1]}}), mode=0o644))
    out = call(hooks, 'entries', entries)
    return out if out is not None else entries


BUILDERS = {
    'oci': lambda h=None: build_oci(h, 'oci'),
    'docker-exporter': lambda h=None: build_oci(h, 'docker-exporter'),
    'docker-save-oci': lambda h=None: build_oci(h, 'docker-save-oci'),
    'docker-archive': lambda h=None: build_legacy(h),
    'multi': lambda h=None: build_multi(h),
}


def write_bases(out):
    """Write every base fixture into out/base; return {name: path}."""
    base = os.path.join(out, 'base')
    os.makedirs(base, exist_ok=True)
    paths = {}
    for name, build in BUILDERS.items():
        data = tar_bytes(build())
        p = os.path.join(base, name + '.tar')
        with open(p, 'wb') as f:
            f.write(data)
        paths[name + '.tar'] = p
        with open(p + '.gz', 'wb') as f:
            f.write(gz(data))
        paths[name + '.tar.gz'] = p + '.gz'
    for name in ('oci', 'multi'):
        d = os.path.join(base, name + '-layout')
        write_dir(BUILDERS[name](), d)
        paths[name + '-layout'] = d
    return paths


if __name__ == '__main__':
    import sys

    print(json.dumps(write_bases(sys.argv[1]), indent=2))

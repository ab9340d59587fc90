#!/usr/bin/env python3
"""The hostile image-archive corpus: >= 1,000 variants of the base fixtures of make_base.py, deterministic
for a seed (random.Random(seed) drives every random choice; the same seed and output directory give the same
bytes). Usage: gen_corpus.py OUTDIR [--seed N] [--only CATEGORY,...]. Writes OUTDIR/base/*, OUTDIR/v/*, OUTDIR/outside/* and
OUTDIR/corpus.json, the list the tests read:

  {"seed": N, "bases": {...}, "variants": [{"name", "category", "path", "base", "expect", "heavy", "note"}]}

expect (what a correct reader must do; see tests/hostile/corpus.test.ts):
  accept        analyze succeeds and --verify says every blob is verified
  readError     analyze (even without --verify) fails with exit 2
  verifyReject  analyze --verify does not say verified: exit 2 or a negative verdict
  any           any documented outcome (success, negative verdict, exit 2): only the bounds are asserted
heavy: run in a child process of its own (peak RSS measured per variant; FIFOs and /dev/zero cannot block the
test process).
"""
import copy
import gzip
import io
import json
import os
import random
import shutil
import sys
import tarfile
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_base import (  # noqa: E402
    BUILDERS, E, MT, blob_record, build_legacy, build_multi, build_oci, descriptor, gz, jdump, raw, sha256,
    tar_bytes, tar_members, write_bases, write_dir,
)

GIB = 1 << 30


class Corpus:
    def __init__(self, out, seed):
        self.out = out
        self.vdir = os.path.join(out, 'v')
        os.makedirs(self.vdir, exist_ok=True)
        self.rng = random.Random(seed)
        self.seed = seed
        self.variants = []
        self.names = set()

    def add(self, category, name, form, content, base, expect, heavy=False, note=''):
        """content: bytes (a file), a list of E (a tar, gzipped when form is tar.gz, a directory when dir),
        or a callable(path) that writes the variant itself."""
        name = f'{category}--{name}'
        assert name not in self.names, name
        self.names.add(name)
        ext = {'tar': '.tar', 'tar.gz': '.tar.gz', 'tar.zst': '.tar.zst', 'dir': '', 'file': ''}[form]
        path = os.path.join(self.vdir, name + ext)
        if callable(content):
            content(path)
        elif form == 'dir':
            write_dir(content, path)
        else:
            data = content if isinstance(content, (bytes, bytearray)) else tar_bytes(content)
            if form == 'tar.gz' and not isinstance(content, (bytes, bytearray)):
                data = gz(data)
            with open(path, 'wb') as f:
                f.write(data)
        self.variants.append({
            'name': name, 'category': category, 'path': path, 'base': base, 'expect': expect,
            'heavy': heavy, 'note': note, 'form': form,
        })


def base_of(fmt, form):
    if form == 'dir':
        return 'multi-layout' if fmt == 'multi' else 'oci-layout'
    return fmt + ('.tar.gz' if form == 'tar.gz' else '.tar')


def forms_for(fmt, want=('tar', 'tar.gz', 'dir')):
    """Layout directories exist for the OCI formats only."""
    return [f for f in want if f != 'dir' or fmt in ('oci', 'multi')]


# ---- small helpers over the model ------------------------------------------------------------------------

def first_only(fn):
    """Apply a per-image hook to image 0 only (multi has two)."""
    return lambda obj, which: fn(obj) if which == 0 else None


def setp(obj, path, value):
    """Set obj[path...] = value; path items are keys or indexes. Returns None (a hook result meaning 'serialize')."""
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def entry_index(entries, pred):
    for i, e in enumerate(entries):
        if pred(e):
            return i
    raise KeyError('no such entry')


def is_blob_of(kind):
    """Predicate: entry is the blob of a kind (layer0, layer1, config, manifest, nested) of image 0."""
    def pred_factory(records):
        path = records[kind]
        return lambda e: e.name == path
    return pred_factory


def paths_of(fmt):
    """Paths of image 0's blobs in a base fixture: {'layer0', 'layer1', 'config', 'manifest', 'nested'}."""
    found = {}

    def lay(layers, which):
        if which == 0:
            found['layer0'] = layers[0].get('path') or layers[0].get('name')
            found['layer1'] = layers[1].get('path') or layers[1].get('name')
            found['layer0_data'] = layers[0]['data']

    def man(rec, which):
        if which == 0:
            found['manifest'] = rec['path']
            found['config'] = rec['config']['path']
            found['config_data'] = rec['config']['data']

    def nested(rec):
        found['nested'] = rec['path']

    entries = BUILDERS[fmt]({'layers': lay, 'manifest_rec': man, 'nested_rec': nested})
    if fmt == 'docker-archive':
        lp = [e.name for e in entries if e.name.endswith('/layer.tar')]
        found['layer0'], found['layer1'] = lp[0], lp[1]
        found['config'] = [e.name for e in entries if e.name.endswith('.json') and '/' not in e.name and e.name != 'manifest.json'][0]
        found['config_data'] = [e.data for e in entries if e.name == found['config']][0]
    found['index'] = 'index.json'
    return found, entries


# ---- categories -------------------------------------------------------------------------------------------

def cat_base(c):
    for fmt in BUILDERS:
        for form in forms_for(fmt):
            c.add('base', f'{fmt}-{form}', form, BUILDERS[fmt](), base_of(fmt, form), 'accept')
    # real-world shapes that must keep working
    entries = BUILDERS['oci']()
    c.add('base', 'oci-dot-slash-names', 'tar', [dotslash(e) for e in entries], 'oci.tar', 'accept',
          note='tar -C layout -cf x.tar . writes ./index.json')
    for kind in ('symlink', 'hardlink'):
        for form in ('tar', 'tar.gz'):
            c.add('base', f'docker-archive-{kind}ed-layer-{form}', form,
                  build_legacy(n_layers=3, link_layer=(kind, 0, 2)), base_of('docker-archive', form), 'accept',
                  note=f'legacy docker save stores an identical layer as a {kind} to the first')
    # an image whose layer blob is addressed by sha512 with the right content: sha512 is supported
    def sha512_layer(layers, which):
        import hashlib
        hx = hashlib.sha512(layers[0]['data']).hexdigest()
        layers[0]['digest'] = 'sha512:' + hx
        layers[0]['path'] = 'blobs/sha512/' + hx
    for form in ('tar', 'tar.gz', 'dir'):
        c.add('base', f'oci-sha512-layer-{form}', form, build_oci({'layers': sha512_layer}),
              base_of('oci', form), 'accept', note='a sha512 blob with its true sha512 digest verifies')
    # identical duplicates are harmless
    entries = BUILDERS['oci']()
    dup = entries + [e.copy() for e in entries if e.type == 'file']
    c.add('base', 'oci-identical-duplicates', 'tar', dup, 'oci.tar', 'accept')


def dotslash(e):
    e = e.copy()
    e.name = './' + e.name
    if e.type == 'hardlink':
        e.linkname = './' + e.linkname
    return e


def needed(fmt, name):
    """Whether the image needs this member (oci-layout, repositories and directories it does not; manifest.json
    only in a legacy archive)."""
    base = name.rstrip('/').split('/')[-1]
    if name.endswith('/') or base in ('oci-layout', 'repositories', 'VERSION', 'json'):
        return False
    return fmt == 'docker-archive' or base != 'manifest.json'


def truncation_expect(fmt, members, cut):
    """A cut before the data ends must not verify, except exactly at a header boundary with only members the
    image does not need after it: that is a well-formed archive without its end-of-archive blocks."""
    data_end = max(o + s for (_, _, o, s) in members)
    if cut >= data_end:
        return 'any'
    lost = [n for (n, off, _, _) in members if off >= cut]
    if any(off == cut for (_, off, _, _) in members) and not any(needed(fmt, n) for n in lost):
        return 'any'
    return 'verifyReject'


def cat_truncate(c, per_base=30, per_gz=20, per_dir=10):
    for fmt in BUILDERS:
        data = tar_bytes(BUILDERS[fmt]())
        members = tar_members(data)
        data_end = max(o + s for (_, _, o, s) in members)
        for i in range(per_base):
            cut = c.rng.randrange(0, len(data))
            expect = truncation_expect(fmt, members, cut)
            c.add('truncate', f'{fmt}-tar-{i:02d}-at-{cut}', 'tar', data[:cut], base_of(fmt, 'tar'), expect,
                  note=f'cut at byte {cut} of {len(data)} (data ends at {data_end})')
        # not left to chance: cuts inside the last member, which the image itself may not need
        name, off, doff, size = max(members, key=lambda m: m[1])
        for label, cut in (('last-header', off + 100), ('last-data', doff + max(size // 2, 1) if size else doff),
                           ('end-blocks', data_end + (512 - data_end % 512) % 512 + 512), ('at-last-header', off)):
            expect = truncation_expect(fmt, members, cut)
            c.add('truncate', f'{fmt}-tar-{label}-at-{cut}', 'tar', data[:cut], base_of(fmt, 'tar'), expect,
                  note=f'cut at byte {cut} of {len(data)}: {label} of {name}')
    for fmt in ('oci', 'docker-archive', 'multi', 'docker-exporter'):
        data = tar_bytes(BUILDERS[fmt]())
        members = tar_members(data)
        data_end = max(o + s for (_, _, o, s) in members)
        zdata = gz(data)
        for i in range(per_gz):
            cut = c.rng.randrange(0, len(zdata))
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                got = len(d.decompress(zdata[:cut]))
            except zlib.error:
                got = 0
            expect = 'verifyReject' if got < data_end else 'any'
            c.add('truncate', f'{fmt}-tgz-{i:02d}-at-{cut}', 'tar.gz', zdata[:cut], base_of(fmt, 'tar.gz'), expect,
                  note=f'gzip cut at byte {cut} of {len(zdata)}: {got} tar bytes decompress, data ends at {data_end}')
    # layout directories: one blob cut short
    found, entries = paths_of('oci')
    for i in range(per_dir):
        kind = c.rng.choice(['layer0', 'layer1', 'config', 'manifest', 'index'])
        path = found[kind]
        ents = [e.copy() for e in entries]
        k = entry_index(ents, lambda e: e.name == path)
        cut = c.rng.randrange(0, len(ents[k].data))
        ents[k].data = ents[k].data[:cut]
        expect = 'verifyReject' if kind.startswith('layer') else 'readError'
        c.add('truncate', f'oci-dir-{i:02d}-{kind}-at-{cut}', 'dir', ents, 'oci-layout', expect)


def header_checksum_ok(block):
    try:
        tarfile.TarInfo.frombuf(bytes(block), 'utf-8', 'surrogateescape')
        return True
    except tarfile.HeaderError:
        return False


def cat_header_flip(c, per_base=30):
    for fmt in BUILDERS:
        data = tar_bytes(BUILDERS[fmt]())
        members = tar_members(data)
        for i in range(per_base):
            name, off, doff, size = c.rng.choice(members)
            pos = off + c.rng.randrange(0, 512)
            mask = c.rng.randrange(1, 256)
            b = bytearray(data)
            b[pos] ^= mask
            block = b[off:off + 512]
            expect = 'any' if header_checksum_ok(block) else 'readError'
            c.add('header-flip', f'{fmt}-{i:02d}-{pos}-x{mask:02x}', 'tar', bytes(b), base_of(fmt, 'tar'), expect,
                  note=f'header of {name}: byte {pos - off} xor {mask:#04x}')


def json_entries(fmt):
    found, entries = paths_of(fmt)
    content_addressed = {found.get('config'), found.get('manifest'), found.get('nested')}
    if fmt == 'multi':
        # image 1's blobs are also read without --verify
        content_addressed |= {e.name for e in entries if e.type == 'file' and e.name.startswith('blobs/') and e.data[:1] == b'{'}
    out = []
    for e in entries:
        if e.type != 'file' or e.data[:1] not in (b'{', b'['):
            continue
        out.append((e.name, e.name in content_addressed))
    return out, entries


def parses(data):
    """Whether JSON text parses, invalid UTF-8 read as U+FFFD (what Node's and Go's decoders do)."""
    try:
        json.loads(data.decode('utf-8', 'replace'))
        return True
    except ValueError:
        return False


def same_docker_manifest(flipped, original):
    """Whether a flipped manifest.json still names the same config and layers (tags may differ)."""
    try:
        a = json.loads(flipped.decode('utf-8', 'replace'))
        b = json.loads(original)
        return [(e.get('Config'), e.get('Layers')) for e in a] == [(e.get('Config'), e.get('Layers')) for e in b]
    except (ValueError, AttributeError, TypeError):
        return False


def cat_json_flip(c, per_base=25, per_dir=20):
    for fmt in BUILDERS:
        jents, entries = json_entries(fmt)
        data = tar_bytes(entries)
        offsets = {n: (o, s) for (n, _, o, s) in tar_members(data)}
        primary = 'manifest.json' if fmt == 'docker-archive' else 'index.json'
        for i in range(per_base):
            name, addressed = c.rng.choice(jents)
            o, s = offsets[name]
            pos = c.rng.randrange(0, s)
            mask = c.rng.randrange(1, 256)
            b = bytearray(data)
            b[o + pos] ^= mask
            flipped = bytes(b[o:o + s])
            if addressed:
                expect = 'readError'
            elif fmt == 'docker-archive' and name.endswith('.json') and '/' not in name and name != 'manifest.json':
                expect = 'verifyReject'  # the legacy config is named by its sha256
            elif name == primary:
                expect = 'any' if parses(flipped) else 'readError'
            elif name == 'manifest.json':
                # next to index.json: `docker load` reads manifest.json, containerd reads index.json
                expect = 'any' if same_docker_manifest(flipped, [e.data for e in entries if e.name == name][0]) else 'verifyReject'
            else:
                expect = 'any'
            c.add('json-flip', f'{fmt}-{i:02d}-{name.replace("/", "_")[-24:]}-{pos}-x{mask:02x}', 'tar', bytes(b),
                  base_of(fmt, 'tar'), expect, note=f'{name}: byte {pos} xor {mask:#04x}')
    jents, entries = json_entries('oci')
    for i in range(per_dir):
        name, addressed = c.rng.choice(jents)
        ents = [e.copy() for e in entries]
        k = entry_index(ents, lambda e: e.name == name)
        pos = c.rng.randrange(0, len(ents[k].data))
        mask = c.rng.randrange(1, 256)
        b = bytearray(ents[k].data)
        b[pos] ^= mask
        ents[k].data = bytes(b)
        if addressed:
            expect = 'readError'
        elif name == 'index.json':
            expect = 'any' if parses(bytes(b)) else 'readError'
        else:
            expect = 'any'
        c.add('json-flip', f'oci-dir-{i:02d}-{name.replace("/", "_")[-24:]}-{pos}-x{mask:02x}', 'dir', ents,
              'oci-layout', expect)


# wrong JSON types: (target, path, value, expect). Targets: config, manifest, index, nested, dm (docker
# manifest.json), layout (oci-layout). TOP means the whole document.
TOP = ()
WRONG_TYPES = []
for v in (42, None, [['sha256:' + '0' * 64]], {}, 'sha256:' + '0' * 64, [1, 2], [None, None], [], ['x', 'y'], True):
    WRONG_TYPES.append(('config', ('rootfs', 'diff_ids'), v, 'verifyReject'))
for v in ('layers', None, 42, []):
    WRONG_TYPES.append(('config', ('rootfs',), v, 'verifyReject'))
for v in ([], 'config', 42, None):
    WRONG_TYPES.append(('config', TOP, v, 'readError'))
WRONG_TYPES += [
    ('config', ('config',), 'x', 'any'), ('config', ('config', 'Labels'), ['a'], 'any'),
    ('config', ('config', 'Labels'), {'k': 1}, 'any'), ('config', ('config', 'Labels'), {'k': {'a': 'b'}}, 'any'),
    ('config', ('history',), {'a': 1}, 'any'), ('config', ('history',), 7, 'any'), ('config', ('history',), [1, 'x', None], 'any'),
    ('config', ('created',), 12, 'any'), ('config', ('architecture',), 42, 'any'), ('config', ('os',), ['linux'], 'any'),
    ('config', ('rootfs', 'type'), 42, 'any'),
]
for v in ('layers', None, 42, {}, [42], ['sha256:' + '0' * 64], [None], [[]]):
    WRONG_TYPES.append(('manifest', ('layers',), v, 'verifyReject'))
for field, vals in (('digest', (42, None, ['sha256:' + '0' * 64], {})), ('size', ('123', None, -1, 1.5, raw('1e400'), raw('9007199254740993'))),
                    ('mediaType', (42, None, [], {}))):
    for v in vals:
        WRONG_TYPES.append(('manifest', ('layers', 0, field), v, 'verifyReject'))
        WRONG_TYPES.append(('manifest', ('config', field), v, 'verifyReject'))
for v in ('config', None, 42, []):
    WRONG_TYPES.append(('manifest', ('config',), v, 'verifyReject'))
for v in (42, [], {}):
    WRONG_TYPES.append(('manifest', ('mediaType',), v, 'verifyReject'))
for v in ([], 'manifest', None, 42):
    WRONG_TYPES.append(('manifest', TOP, v, 'verifyReject'))
WRONG_TYPES += [
    ('manifest', ('schemaVersion',), '2', 'any'), ('manifest', ('schemaVersion',), None, 'any'),
    ('manifest', ('annotations',), [], 'any'), ('manifest', ('annotations',), 'x', 'any'),
    ('manifest', ('annotations',), {'k': 1}, 'any'), ('manifest', ('annotations',), {'k': {'x': []}}, 'any'),
    ('manifest', ('layers', 0, 'annotations'), ['x'], 'any'),
]
for v in ('manifests', None, 42, {}, [42], ['x'], [None], [[]]):
    WRONG_TYPES.append(('index', ('manifests',), v, 'readError'))
WRONG_TYPES.append(('index', ('manifests',), [], 'any'))
for field, vals in (('digest', (42, None, ['sha256:' + '0' * 64])), ('size', ('x', None, -1, raw('1e400'))), ('mediaType', (42, [], {}))):
    for v in vals:
        WRONG_TYPES.append(('index', ('manifests', 0, field), v, 'verifyReject'))
WRONG_TYPES += [
    ('index', ('manifests', 0, 'mediaType'), None, 'any'),
    ('index', ('manifests', 0, 'platform'), 'linux/amd64', 'any'), ('index', ('manifests', 0, 'platform'), 42, 'any'),
    ('index', ('manifests', 0, 'platform'), {'os': 1, 'architecture': []}, 'any'),
    ('index', ('manifests', 0, 'annotations'), [], 'any'), ('index', ('manifests', 0, 'annotations'), 'x', 'any'),
    ('index', ('manifests', 0, 'annotations'), {'k': 1}, 'any'),
    ('index', ('mediaType',), 42, 'any'), ('index', ('schemaVersion',), '2', 'any'),
]
for v in ([], 'index', 42, None, True):
    WRONG_TYPES.append(('index', TOP, v, 'readError'))
for v in ('x', 42, [42], None):
    WRONG_TYPES.append(('nested', ('manifests',), v, 'verifyReject'))
WRONG_TYPES += [('nested', ('manifests', 1, 'platform'), 42, 'any'), ('nested', ('manifests', 0, 'digest'), 42, 'verifyReject')]
for v in ({}, 'x', 42, None, []):
    WRONG_TYPES.append(('dm', TOP, v, 'readError'))
for field, vals, expect in (('Config', (42, None, []), 'readError'), ('Layers', ('x', 42, None, [42], [None]), 'verifyReject'),
                            ('RepoTags', ('x', 42, [42]), 'any')):
    for v in vals:
        WRONG_TYPES.append(('dm', (0, field), v, expect))
for v in ({'imageLayoutVersion': 42}, [], 'x', {'imageLayoutVersion': '2.0.0'}):
    WRONG_TYPES.append(('layout', TOP, v, 'any'))


def type_hooks(target, path, value):
    def mutate(obj):
        if path == TOP:
            return jdump(value)
        setp(obj, list(path), copy.deepcopy(value))
        return None
    if target in ('config', 'manifest'):
        return {target: first_only(mutate)}
    key = {'index': 'index', 'nested': 'nested', 'dm': 'docker_manifest', 'layout': 'layout'}[target]
    return {key: mutate}


def vname(v):
    s = json.dumps(v, separators=(',', ':'))
    s = ''.join(ch if ch.isalnum() or ch in '-.' else '_' for ch in s)
    return s[:28]


def cat_wrong_types(c):
    for n, (target, path, value, expect) in enumerate(WRONG_TYPES):
        hooks = type_hooks(target, path, value)
        label = f'{n:03d}-{target}.{".".join(str(p) for p in path) or "TOP"}={vname(value)}'
        if target in ('config',):
            plans = [('oci', 'tar'), ('oci', 'dir'), ('docker-archive', 'tar'), ('multi', 'tar.gz')]
        elif target == 'manifest':
            plans = [('oci', 'tar'), ('oci', 'dir'), ('docker-exporter', 'tar.gz')]
        elif target in ('index', 'layout'):
            plans = [('oci', 'tar'), ('oci', 'dir'), ('docker-save-oci', 'tar')]
        elif target == 'nested':
            plans = [('multi', 'tar'), ('multi', 'dir')]
        else:
            plans = [('docker-archive', 'tar'), ('docker-archive', 'tar.gz'), ('docker-exporter', 'tar')]
        for fmt, form in plans:
            e = expect
            if target == 'dm' and fmt != 'docker-archive' and e == 'readError':
                e = 'verifyReject'  # index.json describes the image, but `docker load` reads manifest.json
            c.add('wrong-type', f'{fmt}-{form}-{label}', form, BUILDERS[fmt](hooks), base_of(fmt, form), e)


def patch_size(data, off, field):
    """Rewrite the size field (12 bytes at 124) of the header at off and fix its checksum."""
    b = bytearray(data)
    b[off + 124:off + 136] = field
    b[off + 148:off + 156] = b' ' * 8
    chk = sum(b[off:off + 512])
    b[off + 148:off + 156] = b'%06o\x00 ' % chk
    return bytes(b)


SIZE_FIELDS = {
    'plus1': lambda s: b'%011o\x00' % (s + 1),
    'minus1': lambda s: b'%011o\x00' % max(s - 1, 0),
    'plus512': lambda s: b'%011o\x00' % (s + 512),
    'octal-8gib': lambda s: b'77777777777\x00',
    'base256-huge': lambda s: b'\x80' + b'\x00' * 3 + b'\x7f' + b'\xff' * 7,
    'base256-negative': lambda s: b'\xff' * 12,
    'garbage': lambda s: b'0000000x123\x00',
    'empty': lambda s: b'\x00' * 12,
    'spaces': lambda s: b' ' * 12,
}


def cat_sizes(c):
    # tar header sizes that lie (checksum fixed, so only the size is wrong)
    for fmt in ('oci', 'docker-archive', 'multi'):
        found, entries = paths_of(fmt)
        data = tar_bytes(entries)
        members = {n: (off, s) for (n, off, _, s) in tar_members(data)}
        targets = ['layer0', 'config'] + (['manifest', 'index'] if fmt != 'docker-archive' else [])
        for kind in targets:
            name = found[kind]
            off, s = members[name]
            for label, fn in SIZE_FIELDS.items():
                c.add('tar-size', f'{fmt}-{kind}-{label}', 'tar', patch_size(data, off, fn(s)), base_of(fmt, 'tar'),
                      'verifyReject', note=f'header size of {name} ({s}) patched: {label}')
    # descriptor sizes that lie about the blob (digests stay true)
    lies = {'plus1': lambda s: s + 1, 'minus1': lambda s: s - 1, 'zero': lambda s: 0, 'minus': lambda s: -1,
            'beyond-2-53': lambda s: raw('9007199254740993'), 'inf': lambda s: raw('1e400'), 'tenGiB': lambda s: 10 * GIB,
            'float': lambda s: s + 0.5}
    for label, lie in lies.items():
        def lay(layers, which, lie=lie):
            if which == 0:
                layers[0]['size'] = lie(layers[0]['size'])
        def cfg(rec, which, lie=lie):
            if which == 0:
                rec['size'] = lie(rec['size'])
        def man(rec, which, lie=lie):
            if which == 0:
                rec['size'] = lie(rec['size'])
        def nest(rec, lie=lie):
            rec['size'] = lie(rec['size'])
        for kind, hooks in (('layer', {'layers': lay}), ('config', {'config_rec': cfg}), ('manifest', {'manifest_rec': man})):
            for fmt, form in (('oci', 'tar'), ('oci', 'dir'), ('docker-exporter', 'tar'), ('multi', 'tar.gz')):
                c.add('descriptor-size', f'{fmt}-{form}-{kind}-{label}', form, BUILDERS[fmt](hooks), base_of(fmt, form), 'verifyReject')
        c.add('descriptor-size', f'multi-tar-nested-{label}', 'tar', build_multi({'nested_rec': nest}), 'multi.tar', 'verifyReject')
    # a legacy layer entry whose content is not what the config's diff_ids say
    def swap(layers, which):
        layers[0]['data'], layers[1]['data'] = layers[1]['data'], layers[0]['data']
    for form in ('tar', 'tar.gz'):
        c.add('descriptor-size', f'docker-archive-{form}-layers-swapped', form, build_legacy({'layers': swap}),
              base_of('docker-archive', form), 'verifyReject', note='layer.tar files swapped: diff IDs do not match')


def cat_digests(c):
    import hashlib
    fake512 = hashlib.sha512(b'some other content').hexdigest()
    algs = {
        'sha512-arbitrary': ('sha512', fake512, None),
        'md5': ('md5', hashlib.md5(b'x').hexdigest(), None),
        'sha1': ('sha1', hashlib.sha1(b'x').hexdigest(), None),
        'sha384': ('sha384', hashlib.sha384(b'x').hexdigest(), None),
        'blake3': ('blake3', '0' * 64, None),
        'upper-alg': ('SHA256', None, None),
        'upper-hex': ('sha256', 'UPPER', None),
        'short-hex': ('sha256', 'short', None),
        'sha256-128hex': ('sha256', 'a' * 128, None),
        'sha512-64hex': ('sha512', 'TRUE256', None),
        'plus-encoding': ('sha256+b64u', 'LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564', None),
        'empty-alg': ('', None, None),
        'no-colon': (None, None, None),
        'traversal-hex': ('sha256', '../../../../../../etc/passwd', None),
        'nul-in-hex': ('sha256', 'NUL', None),
    }

    def digest_for(label, data):
        alg, hx, _ = algs[label]
        true = hashlib.sha256(data).hexdigest()
        if hx is None:
            hx = true
        elif hx == 'UPPER':
            hx = true.upper()
        elif hx == 'short':
            hx = true[:32]
        elif hx == 'TRUE256':
            hx = true
        elif hx == 'NUL':
            hx = true[:10] + '\u0000' + true[11:]
        if alg is None:
            return true, 'blobs/sha256/' + true
        return f'{alg}:{hx}', (f'blobs/{alg}/{hx}' if alg and '/' not in hx and '\u0000' not in hx else None)

    for label in algs:
        def lay(layers, which, label=label):
            if which == 0:
                d, p = digest_for(label, layers[0]['data'])
                layers[0]['digest'] = d
                layers[0]['path'] = p
        def cfg(rec, which, label=label):
            if which == 0:
                d, p = digest_for(label, rec['data'])
                rec['digest'] = d
                rec['path'] = p
        def man(rec, which, label=label):
            if which == 0:
                d, p = digest_for(label, rec['data'])
                rec['digest'] = d
                rec['path'] = p
        def nest(rec, label=label):
            d, p = digest_for(label, rec['data'])
            rec['digest'] = d
            rec['path'] = p
        for kind, hooks in (('layer', {'layers': lay}), ('config', {'config_rec': cfg}), ('manifest', {'manifest_rec': man})):
            for fmt, form in (('oci', 'tar'), ('oci', 'dir'), ('docker-exporter', 'tar.gz')):
                c.add('digest-alg', f'{fmt}-{form}-{kind}-{label}', form, BUILDERS[fmt](hooks), base_of(fmt, form), 'verifyReject')
        c.add('digest-alg', f'multi-tar-nested-{label}', 'tar', build_multi({'nested_rec': nest}), 'multi.tar', 'verifyReject')


def cat_traversal(c):
    found, entries = paths_of('oci')
    lfound, lentries = paths_of('docker-archive')
    evil = ['../../../../../../etc/passwd', '/etc/passwd', 'blobs/sha256/../../../../etc/hostname', '/proc/self/environ']
    for i, target in enumerate(evil):
        def dm_cfg(dm, target=target):
            dm[0]['Config'] = target
        def dm_layer(dm, target=target):
            dm[0]['Layers'][0] = target
        for form in ('tar', 'tar.gz'):
            c.add('traversal', f'docker-archive-{form}-config-path-{i}', form, build_legacy({'docker_manifest': dm_cfg}),
                  base_of('docker-archive', form), 'readError', note=f'manifest.json Config {target}')
            c.add('traversal', f'docker-archive-{form}-layer-path-{i}', form, build_legacy({'docker_manifest': dm_layer}),
                  base_of('docker-archive', form), 'verifyReject', note=f'manifest.json Layers[0] {target}')
        c.add('traversal', f'docker-exporter-tar-config-path-{i}', 'tar', build_oci({'docker_manifest': dm_cfg}, 'docker-exporter'),
              'docker-exporter.tar', 'any')
    # traversal through descriptor digests into a layout directory
    for i, hx in enumerate(['../../../../etc/passwd', '../../oci-layout', '/etc/passwd']):
        def lay(layers, which, hx=hx):
            if which == 0:
                layers[0]['digest'] = 'sha256:' + hx
                layers[0]['path'] = None
        def cfg(rec, which, hx=hx):
            if which == 0:
                rec['digest'] = 'sha256:' + hx
                rec['path'] = None
        for form in ('tar', 'dir'):
            c.add('traversal', f'oci-{form}-layer-digest-{i}', form, build_oci({'layers': lay}), base_of('oci', form), 'verifyReject')
            c.add('traversal', f'oci-{form}-config-digest-{i}', form, build_oci({'config_rec': cfg}), base_of('oci', form), 'readError')
    # entries with traversal or absolute names in the tar
    for j, name in enumerate(['../evil', '../../../../tmp/evil', '/abs/evil', 'blobs/../../evil', 'blobs/sha256/../../../evil']):
        for form in ('tar', 'tar.gz'):
            ents = entries + [E(name, b'evil\n')]
            c.add('traversal', f'oci-{form}-extra-entry-{j}', form, ents, base_of('oci', form), 'any', note=f'extra entry {name}')
    # the real blob only under a traversal or absolute name
    for j, prefix in enumerate(['../', '/', 'x/../../', './../']):
        for kind in ('layer0', 'config', 'index'):
            ents = [e.copy() for e in entries]
            k = entry_index(ents, lambda e: e.name == found[kind])
            ents[k].name = prefix + ents[k].name
            c.add('traversal', f'oci-tar-{kind}-renamed-{j}', 'tar', ents, 'oci.tar',
                  'any' if prefix == '/' else ('verifyReject' if kind == 'layer0' else 'readError'),
                  note=f'{found[kind]} stored as {ents[k].name}')
    # a traversal entry that shadows a real blob with other content
    for kind in ('layer0', 'config'):
        ents = entries + [E('../' + found[kind], b'shadow\n')]
        c.add('traversal', f'oci-tar-{kind}-shadowed', 'tar', ents, 'oci.tar', 'any')


def cat_links(c):
    out = c.out
    outside = os.path.join(out, 'outside')
    os.makedirs(outside, exist_ok=True)
    found, entries = paths_of('oci')
    lfound, lentries = paths_of('docker-archive')
    # host files holding the exact bytes the archive needs: a reader that follows links out would verify
    blobs = {}
    for kind in ('layer0', 'config', 'manifest', 'index'):
        data = [e.data for e in entries if e.name == found[kind]][0]
        p = os.path.join(outside, f'{kind}.bin')
        with open(p, 'wb') as f:
            f.write(data)
        blobs[kind] = p
    ldata = [e.data for e in lentries if e.name == lfound['layer0']][0]
    with open(os.path.join(outside, 'legacy-layer.tar'), 'wb') as f:
        f.write(ldata)
    blobs['legacy-layer0'] = os.path.join(outside, 'legacy-layer.tar')

    def expect_for(kind):
        return 'verifyReject' if kind.startswith('layer') or kind == 'legacy-layer0' else 'readError'

    for kind in ('layer0', 'config', 'manifest', 'index'):
        for how in ('symlink-abs', 'symlink-rel', 'hardlink-abs', 'hardlink-rel', 'symlink-etc', 'hardlink-missing'):
            ents = [e.copy() for e in entries]
            k = entry_index(ents, lambda e: e.name == found[kind])
            depth = found[kind].count('/')
            rel_to_v = '../' * depth + '../outside/' + os.path.basename(blobs[kind])
            target = {
                'symlink-abs': blobs[kind], 'symlink-rel': rel_to_v, 'hardlink-abs': blobs[kind],
                'hardlink-rel': '../outside/' + os.path.basename(blobs[kind]), 'symlink-etc': '/etc/passwd',
                'hardlink-missing': 'blobs/sha256/' + '0' * 64,
            }[how]
            ents[k] = E(ents[k].name, type='symlink' if how.startswith('symlink') else 'hardlink', linkname=target)
            for form in ('tar', 'tar.gz'):
                c.add('link-out', f'oci-{form}-{kind}-{how}', form, ents, base_of('oci', form), expect_for(kind),
                      note=f'{found[kind]} is a {how} to {target}')
            if how.startswith('symlink'):
                if how == 'symlink-rel':
                    target = '../' * depth + '../../outside/' + os.path.basename(blobs[kind])
                    ents[k] = E(ents[k].name, type='symlink', linkname=target)
                c.add('link-out', f'oci-dir-{kind}-{how}', 'dir', ents, 'oci-layout', expect_for(kind),
                      note=f'{found[kind]} is a symlink to {target}')
    for how in ('symlink-abs', 'symlink-rel', 'hardlink-abs'):
        ents = [e.copy() for e in lentries]
        k = entry_index(ents, lambda e: e.name == lfound['layer0'])
        target = {'symlink-abs': blobs['legacy-layer0'], 'symlink-rel': '../../outside/legacy-layer.tar', 'hardlink-abs': blobs['legacy-layer0']}[how]
        ents[k] = E(ents[k].name, type='symlink' if how.startswith('symlink') else 'hardlink', linkname=target)
        for form in ('tar', 'tar.gz'):
            c.add('link-out', f'docker-archive-{form}-layer-{how}', form, ents, base_of('docker-archive', form), 'verifyReject')
    # links that stay inside but go wrong: loops, a link to a directory, a chain that ends outside
    for kind in ('layer0', 'config', 'index'):
        name = found[kind]
        loops = {
            'self-loop': [E(name, type='symlink', linkname=os.path.basename(name))],
            'two-loop': [E(name, type='symlink', linkname=os.path.basename(name) + '.b'), E(name + '.b', type='symlink', linkname=os.path.basename(name))],
            'to-dir': [E(name, type='symlink', linkname='.' if '/' in name else 'blobs')],
            'chain-out': [E(name, type='symlink', linkname=os.path.basename(name) + '.c'), E(name + '.c', type='symlink', linkname='/etc/passwd')],
            'hardlink-self': [E(name, type='hardlink', linkname=name)],
            'hardlink-later': [E(name, type='hardlink', linkname='zzz-later'), E('zzz-later', [e.data for e in entries if e.name == name][0])],
        }
        for how, repl in loops.items():
            ents = [e for e in entries if e.name != name] + repl
            for form in ('tar', 'tar.gz', 'dir'):
                if form == 'dir' and how.startswith('hardlink'):
                    continue
                expect = 'verifyReject' if kind == 'layer0' else 'readError'
                if how == 'hardlink-later':
                    expect = 'any'  # a hard link to a later entry: tar cannot express it; a reader may refuse or not
                c.add('link-out', f'oci-{form}-{kind}-{how}', form, ents, base_of('oci', form), expect)


def cat_duplicates(c):
    found, entries = paths_of('oci')
    lfound, lentries = paths_of('docker-archive')
    for kind in ('index', 'layer0', 'config', 'manifest'):
        name = found[kind]
        real = [e for e in entries if e.name == name][0]
        other = E(name, real.data[:-1] + (b' ' if real.data[-1:] != b' ' else b'\n'))
        if kind == 'index':
            idx = json.loads(real.data)
            idx['manifests'] = idx['manifests'] * 2
            other = E(name, jdump(idx))
        for order in ('good-first', 'bad-first'):
            ents = [e for e in entries if e.name != name]
            pair = [real, other] if order == 'good-first' else [other, real]
            ents = ents[:3] + [pair[0]] + ents[3:] + [pair[1]]
            for form in ('tar', 'tar.gz'):
                c.add('duplicate', f'oci-{form}-{kind}-{order}', form, ents, base_of('oci', form), 'verifyReject',
                      note=f'{name} twice with different content')
    # legacy: manifest.json twice, layer twice
    for kind in ('manifest.json', 'layer0', 'config'):
        name = kind if kind == 'manifest.json' else lfound[kind]
        real = [e for e in lentries if e.name == name][0]
        if kind == 'manifest.json':
            dm = json.loads(real.data)
            dm[0]['RepoTags'] = ['other:tag']
            dm[0]['Layers'] = dm[0]['Layers'][::-1]
            other = E(name, jdump(dm))
        else:
            other = E(name, real.data[:-1] + b'\x01')
        for order in ('good-first', 'bad-first'):
            ents = [e for e in lentries if e.name != name]
            pair = [real, other] if order == 'good-first' else [other, real]
            ents = [pair[0]] + ents + [pair[1]]
            for form in ('tar', 'tar.gz'):
                c.add('duplicate', f'docker-archive-{form}-{kind}-{order}', form, ents, base_of('docker-archive', form), 'verifyReject')
    # a directory entry and a file with the same name
    for kind in ('layer0', 'index'):
        ents = entries + [E(found[kind] + '/', type='dir')]
        c.add('duplicate', f'oci-tar-{kind}-then-dir', 'tar', ents, 'oci.tar', 'verifyReject' if kind == 'layer0' else 'readError')


def cat_special(c):
    found, entries = paths_of('oci')
    for kind in ('layer0', 'config', 'manifest', 'index'):
        name = found[kind]
        for how, repl in (('fifo', E(name, type='fifo')), ('chr-dev-zero', E(name, type='chr', devmajor=1, devminor=5)),
                          ('blk', E(name, type='blk', devmajor=7, devminor=0)), ('dir', E(name, type='dir')),
                          ('symlink-dev-zero', E(name, type='symlink', linkname='/dev/zero')),
                          ('hardlink-dev-zero', E(name, type='hardlink', linkname='/dev/zero'))):
            ents = [repl if e.name == name else e for e in entries]
            for form in ('tar', 'tar.gz'):
                c.add('special', f'oci-{form}-{kind}-{how}', form, ents, base_of('oci', form),
                      'verifyReject' if kind == 'layer0' else 'readError', heavy=how.endswith('dev-zero'))
            if how in ('fifo', 'dir', 'symlink-dev-zero'):
                c.add('special', f'oci-dir-{kind}-{how}', 'dir', ents, 'oci-layout',
                      'verifyReject' if kind == 'layer0' else 'readError', heavy=how != 'dir')
        for dev in ('/dev/urandom', '/proc/self/mem', '/dev/stdin'):
            ents = [E(name, type='symlink', linkname=dev) if e.name == name else e for e in entries]
            c.add('special', f'oci-dir-{kind}-symlink-{dev.replace("/", "_")}', 'dir', ents, 'oci-layout',
                  'verifyReject' if kind == 'layer0' else 'readError', heavy=True)
    # oci-layout and blobs/ of the wrong kind in a directory
    for how, repl in (('fifo', E('oci-layout', type='fifo')), ('dir', E('oci-layout/', type='dir')),
                      ('dev-zero', E('oci-layout', type='symlink', linkname='/dev/zero'))):
        ents = [repl if e.name == 'oci-layout' else e for e in entries]
        c.add('special', f'oci-dir-oci-layout-{how}', 'dir', ents, 'oci-layout', 'any', heavy=how != 'dir')
    c.add('special', 'oci-dir-blobs-is-a-file', 'dir', [E('blobs', b'x')] + [e for e in entries if not e.name.startswith('blobs')],
          'oci-layout', 'readError')
    c.add('special', 'oci-dir-blobs-symlink-root', 'dir', [E('blobs', type='symlink', linkname='/')] + [e for e in entries if not e.name.startswith('blobs')],
          'oci-layout', 'readError')
    # the input itself: a FIFO, /dev/zero, a directory with nothing, an empty file, random bytes
    c.add('special', 'input-fifo', 'file', lambda p: os.mkfifo(p), 'oci.tar', 'readError', heavy=True)
    c.add('special', 'input-symlink-dev-zero', 'file', lambda p: os.symlink('/dev/zero', p), 'oci.tar', 'readError', heavy=True)
    c.add('special', 'input-empty-dir', 'file', lambda p: os.makedirs(p), 'oci-layout', 'readError')
    c.add('special', 'input-empty-file', 'file', b'', 'oci.tar', 'readError')
    c.add('special', 'input-random-bytes', 'file', bytes(c.rng.randrange(256) for _ in range(4096)), 'oci.tar', 'readError')
    c.add('special', 'input-zero-blocks', 'file', b'\x00' * 10240, 'oci.tar', 'readError')
    c.add('special', 'input-gzip-of-random', 'file', gz(bytes(c.rng.randrange(256) for _ in range(4096))), 'oci.tar', 'readError')
    c.add('special', 'input-gzip-of-empty', 'file', gz(b''), 'oci.tar', 'readError')
    c.add('special', 'input-only-oci-layout', 'tar', [E('oci-layout', b'{"imageLayoutVersion":"1.0.0"}')], 'oci.tar', 'readError')
    c.add('special', 'input-gnu-longname', 'tar', entries + [E('x' * 300, b'long')], 'oci.tar', 'any')
    without_layout = [e for e in entries if e.name != 'oci-layout']
    for form in ('tar', 'dir'):
        c.add('special', f'oci-{form}-no-oci-layout', form, without_layout, base_of('oci', form), 'any',
              note='the OCI layout spec requires oci-layout; readers differ')


def zero_members(total, chunk=64 << 20):
    """Multi-member gzip of `total` zero bytes: one 64 MiB member compressed once, repeated (tiny on disk)."""
    member = gzip.compress(bytes(chunk), compresslevel=9, mtime=0)
    n, rest = divmod(total, chunk)
    out = member * n
    if rest:
        out += gzip.compress(bytes(rest), compresslevel=9, mtime=0)
    return out


def cat_bombs(c):
    bomb = zero_members(10 * GIB)  # 10 GiB of zeros in ~10 MB
    def lay(layers, which):
        if which == 0:
            layers[0]['data'] = bomb
            layers[0]['digest'] = 'sha256:' + sha256(bomb)
            layers[0]['path'] = 'blobs/sha256/' + sha256(bomb)
            layers[0]['size'] = len(bomb)
    for fmt, form in (('oci', 'tar'), ('oci', 'dir'), ('docker-exporter', 'tar'), ('multi', 'tar')):
        c.add('gzip-bomb', f'{fmt}-{form}-layer-10gib', form, BUILDERS[fmt]({'layers': lay}), base_of(fmt, form), 'verifyReject', heavy=True,
              note='layer blob: 10 GiB of zeros gzip-compressed (diff ID cannot match)')
    # the whole archive: a 10 GiB filler entry before the image (index.json cannot be reached cheaply)
    entries = BUILDERS['oci']()
    filler = tarfile.TarInfo('filler')
    filler.size = 10 * GIB
    filler.mtime = 0
    head = filler.tobuf(tarfile.PAX_FORMAT)
    rest = tar_bytes(entries)
    archive_bomb = gzip.compress(head, mtime=0) + bomb + gzip.compress(rest, mtime=0)
    c.add('gzip-bomb', 'oci-tgz-filler-first', 'file', archive_bomb, 'oci.tar.gz', 'readError', heavy=True,
          note='tar.gz: a 10 GiB entry of zeros before index.json')
    body = tar_bytes(entries)[:-1024]  # without the end-of-archive blocks
    archive_bomb_last = gzip.compress(body + head, mtime=0) + bomb + gzip.compress(b'\0' * 1024, mtime=0)
    c.add('gzip-bomb', 'oci-tgz-filler-last', 'file', archive_bomb_last, 'oci.tar.gz', 'any', heavy=True,
          note='tar.gz: the image, then a 10 GiB entry of zeros')
    c.add('gzip-bomb', 'tgz-all-zeros', 'file', bomb, 'oci.tar.gz', 'readError', heavy=True, note='10 GiB of zeros gzipped')
    # a legacy archive gzipped, with the bomb as a layer.tar inside a tar.gz (inner data is plain)
    big_member = zero_members(2 * GIB)
    def legacy_lay(layers, which):
        layers[0]['data'] = big_member
    c.add('gzip-bomb', 'docker-archive-tar-gzip-layer', 'tar', build_legacy({'layers': legacy_lay}), 'docker-archive.tar', 'verifyReject',
          heavy=True, note='legacy layer.tar that is really a gzip of 2 GiB zeros')


def deep_json(depth, leaf='x'):
    return ('{"a":' * depth + json.dumps(leaf) + '}' * depth)


def cat_nesting(c):
    # a chain of 300 nested indexes
    def chain(n, width=1):
        def entries_fn(_=None):
            hooks = {}
            man_holder = {}
            def man(rec, which):
                man_holder['rec'] = rec
            ents = build_oci({'manifest_rec': man})
            rec = man_holder['rec']
            cur = descriptor(rec, platform=rec['platform'])
            blobs = []
            for level in range(n):
                idx = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [cur] * width, 'annotations': {'level': str(level)}}
                r = blob_record(jdump(idx), MT['oci_index'])
                blobs.append(E(r['path'], r['data']))
                cur = descriptor(r)
            index = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [cur]}
            ents = [e for e in ents if e.name != 'index.json'] + blobs + [E('index.json', jdump(index))]
            return ents
        return entries_fn
    for form in ('tar', 'dir'):
        c.add('nesting', f'oci-{form}-chain-300', form, chain(300)(), base_of('oci', form), 'readError', heavy=True,
              note='index.json -> 300 nested indexes -> manifest')
        c.add('nesting', f'oci-{form}-chain-300-wide-300', form, chain(300, 300)(), base_of('oci', form), 'readError', heavy=True,
              note='300 nested levels, each listing the next level 300 times (300^300 paths without dedup)')
    # 300 x 300: 300 distinct nested indexes, each listing the manifest 300 times
    holder = {}
    ents = build_oci({'manifest_rec': lambda rec, which: holder.setdefault('rec', rec)})
    rec = holder['rec']
    md = descriptor(rec, platform=rec['platform'])
    blobs = []
    tops = []
    for i in range(300):
        idx = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [md] * 300, 'annotations': {'n': str(i)}}
        r = blob_record(jdump(idx), MT['oci_index'])
        blobs.append(E(r['path'], r['data']))
        tops.append(descriptor(r))
    wide = [e for e in ents if e.name != 'index.json'] + blobs + [E('index.json', jdump({'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': tops}))]
    for form in ('tar', 'dir', 'tar.gz'):
        c.add('nesting', f'oci-{form}-300x300', form, wide, base_of('oci', form), 'any', heavy=True)
    # deeply nested JSON inside documents
    for depth in (100_000,):
        nested_obj = deep_json(depth)
        def cfg(obj, which, s=nested_obj):
            if which == 0:
                text = jdump(obj).decode()
                return (text[:-1] + ',"x-deep":' + s + '}').encode()
        def cfg_arr(obj, which, d=depth):
            if which == 0:
                text = jdump(obj).decode()
                return (text[:-1] + ',"x-deep":' + '[' * d + ']' * d + '}').encode()
        def lab(obj, which, s=nested_obj):
            if which == 0:
                text = jdump(obj).decode()
                return text.replace('"Labels":{', '"Labels":{"deep":' + s + ',', 1).encode()
        def idx(obj, s=nested_obj):
            text = jdump(obj).decode()
            return (text[:-1] + ',"annotations":{"deep":' + s + '}}').encode()
        def man(obj, which, s=nested_obj):
            if which == 0:
                text = jdump(obj).decode()
                return (text[:-1] + ',"x-deep":' + s + '}').encode()
        for label, hooks, expect in (('config-objects', {'config': cfg}, 'any'), ('config-arrays', {'config': cfg_arr}, 'any'),
                                     ('config-label', {'config': lab}, 'any'), ('index-annotation', {'index': idx}, 'any'),
                                     ('manifest', {'manifest': man}, 'any')):
            for fmt, form in (('oci', 'tar'), ('oci', 'dir'), ('docker-archive', 'tar')):
                if fmt == 'docker-archive' and label in ('index-annotation', 'manifest'):
                    continue
                c.add('nesting', f'{fmt}-{form}-{label}-{depth}', form, BUILDERS[fmt](hooks), base_of(fmt, form), expect, heavy=True,
                      note=f'{depth} nested levels in the {label}')


def cat_fanout(c):
    holder = {}
    def grab(rec, which):
        holder['rec'] = rec
    def idx20k(obj):
        obj['manifests'] = obj['manifests'] * 20_000
    for fmt, form in (('oci', 'tar'), ('oci', 'dir'), ('oci', 'tar.gz'), ('docker-save-oci', 'tar')):
        c.add('fan-out', f'{fmt}-{form}-index-20000', form, BUILDERS[fmt]({'index': idx20k}), base_of(fmt, form), 'any', heavy=True,
              note='index.json lists one manifest 20,000 times')
    def nested20k(obj):
        obj['manifests'] = obj['manifests'] * 10_000
    c.add('fan-out', 'multi-tar-nested-20000', 'tar', build_multi({'nested': nested20k}), 'multi.tar', 'any', heavy=True)
    def missing20k(obj):
        d = obj['manifests'][0]
        obj['manifests'] = [dict(d, digest='sha256:%064x' % i) for i in range(20_000)]
    c.add('fan-out', 'oci-tar-index-20000-missing', 'tar', build_oci({'index': missing20k}), 'oci.tar', 'readError', heavy=True)
    def layers20k(layers, which):
        pass
    def man20k(obj, which):
        if which == 0:
            obj['layers'] = obj['layers'] * 10_000
    def cfg20k(obj, which):
        if which == 0:
            obj['rootfs']['diff_ids'] = obj['rootfs']['diff_ids'] * 10_000
    c.add('fan-out', 'oci-tar-manifest-20000-layers', 'tar', build_oci({'manifest': man20k, 'config': cfg20k}), 'oci.tar', 'any', heavy=True,
          note='one manifest with 20,000 layers (two blobs, each 10,000 times)')
    def dm20k(dm):
        return jdump(dm * 20_000)
    for fmt in ('docker-archive', 'docker-exporter'):
        c.add('fan-out', f'{fmt}-tar-manifest-json-20000', 'tar', BUILDERS[fmt]({'docker_manifest': dm20k}), base_of(fmt, 'tar'), 'any', heavy=True)
    def legacy_layers(dm):
        dm[0]['Layers'] = dm[0]['Layers'] * 10_000
        return None
    def legacy_cfg(obj, which):
        obj['rootfs']['diff_ids'] = obj['rootfs']['diff_ids'] * 10_000
    c.add('fan-out', 'docker-archive-tar-20000-layers', 'tar', build_legacy({'docker_manifest': legacy_layers, 'config': legacy_cfg}),
          'docker-archive.tar', 'any', heavy=True)
    # 20,000 tar entries in the archive (tiny files)
    ents = BUILDERS['oci']() + [E(f'junk/{i:05d}', b'') for i in range(20_000)]
    c.add('fan-out', 'oci-tar-20000-entries', 'tar', ents, 'oci.tar', 'any', heavy=True)


def cat_cycles(c):
    found, entries = paths_of('multi')
    nested_path = found['nested']
    nested_data = [e.data for e in entries if e.name == nested_path][0]
    hx = nested_path.split('/')[-1]
    # the nested index lists itself (stored under a name that is not its hash: no true hash can do this)
    for label, fn in (
        ('self', lambda idx: idx['manifests'].append({'mediaType': MT['oci_index'], 'digest': 'sha256:' + hx, 'size': len(nested_data)})),
        ('self-only', lambda idx: idx.__setitem__('manifests', [{'mediaType': MT['oci_index'], 'digest': 'sha256:' + hx, 'size': len(nested_data)}])),
    ):
        idx = json.loads(nested_data)
        fn(idx)
        ents = [E(nested_path, jdump(idx)) if e.name == nested_path else e for e in entries]
        for form in ('tar', 'tar.gz', 'dir'):
            c.add('cycle', f'multi-{form}-nested-{label}', form, ents, base_of('multi', form), 'readError')
    # two index blobs naming each other
    a_hex, b_hex = sha256(b'cycle-a'), sha256(b'cycle-b')
    ia = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [{'mediaType': MT['oci_index'], 'digest': 'sha256:' + b_hex, 'size': 200}]}
    ib = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [{'mediaType': MT['oci_index'], 'digest': 'sha256:' + a_hex, 'size': 200}]}
    top = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [{'mediaType': MT['oci_index'], 'digest': 'sha256:' + a_hex, 'size': 200}]}
    ents = [e for e in entries if e.name != 'index.json'] + [E('blobs/sha256/' + a_hex, jdump(ia)), E('blobs/sha256/' + b_hex, jdump(ib)), E('index.json', jdump(top))]
    for form in ('tar', 'tar.gz', 'dir'):
        c.add('cycle', f'multi-{form}-two-blob-cycle', form, ents, base_of('multi', form), 'readError')
    # index.json lists the nested index twice plus itself-by-type confusion
    ofound, oentries = paths_of('oci')
    man_path = ofound['manifest']
    man_data = [e.data for e in oentries if e.name == man_path][0]
    def as_index(obj):
        obj['manifests'][0]['mediaType'] = MT['oci_index']
    def cfg_is_manifest(obj, which):
        if which == 0:
            obj['config'] = {'mediaType': MT['oci_config'], 'digest': 'sha256:' + sha256(b'placeholder'), 'size': 1}
    # the manifest's config descriptor points at the manifest itself (type confusion; no hash loop is possible)
    def cfg_rec_self(rec, which):
        pass
    for form in ('tar', 'dir'):
        c.add('cycle', f'oci-{form}-manifest-typed-as-index', form, build_oci({'index': as_index}), base_of('oci', form), 'readError')
    idx = json.loads([e.data for e in oentries if e.name == 'index.json'][0])
    m = json.loads(man_data)
    m['config'] = {'mediaType': MT['oci_config'], 'digest': idx['manifests'][0]['digest'], 'size': len(man_data)}
    m_bytes = jdump(m)
    mrec = blob_record(m_bytes, MT['oci_manifest'])
    idx['manifests'][0] = descriptor(mrec)
    ents = [e for e in oentries if e.name != 'index.json'] + [E(mrec['path'], m_bytes), E('index.json', jdump(idx))]
    for form in ('tar', 'dir'):
        c.add('cycle', f'oci-{form}-config-is-a-manifest', form, ents, base_of('oci', form), 'any',
              note="a manifest whose config descriptor names the first manifest's blob")
    # a nested index that lists index.json's own manifest and the index chain twice (diamond)
    nidx = json.loads(nested_data)
    diamond = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [{'mediaType': MT['oci_index'], 'digest': 'sha256:' + hx, 'size': len(nested_data)}] * 2}
    drec = blob_record(jdump(diamond), MT['oci_index'])
    top = {'schemaVersion': 2, 'mediaType': MT['oci_index'], 'manifests': [descriptor(drec), descriptor(drec)]}
    ents = [e for e in entries if e.name != 'index.json'] + [E(drec['path'], drec['data']), E('index.json', jdump(top))]
    for form in ('tar', 'dir'):
        c.add('cycle', f'multi-{form}-diamond', form, ents, base_of('multi', form), 'any', note='the same nested index reached 4 ways')
    del nidx


def cat_huge(c):
    big = 'L' * (10 << 20)
    def label(obj, which):
        if which == 0:
            obj['config']['Labels']['huge'] = big
    def key(obj, which):
        if which == 0:
            obj['config']['Labels'][big] = 'v'
    def ann(obj):
        obj['manifests'][0].setdefault('annotations', {})['huge'] = big
    def tags(dm):
        dm[0]['RepoTags'] = ['hostile:' + big]
    def too_big(obj, which):
        if which == 0:
            obj['config']['Labels']['huge'] = 'X' * (20 << 20)
    def many_labels(obj, which):
        if which == 0:
            obj['config']['Labels'] = {f'k{i}': 'v' * 100 for i in range(100_000)}
    def man_ann(obj, which):
        if which == 0:
            obj['annotations'] = {'huge': big}
    for label_, fmt, hooks, expect in (
        ('config-label-10mb', 'oci', {'config': label}, 'accept'),
        ('config-label-key-10mb', 'oci', {'config': key}, 'accept'),
        ('manifest-annotation-10mb', 'oci', {'manifest': man_ann}, 'accept'),
        ('index-annotation-10mb', 'oci', {'index': ann}, 'accept'),
        ('config-20mb', 'oci', {'config': too_big}, 'any'),
        ('config-100k-labels', 'oci', {'config': many_labels}, 'accept'),
        ('legacy-label-10mb', 'docker-archive', {'config': label}, 'accept'),
        ('legacy-repotag-10mb', 'docker-archive', {'docker_manifest': tags}, 'any'),
    ):
        for form in ('tar', 'dir') if fmt == 'oci' else ('tar',):
            c.add('huge-string', f'{fmt}-{form}-{label_}', form, BUILDERS[fmt](hooks), base_of(fmt, form), expect, heavy=True)
    # tar-level: a 1 MiB entry name (PAX) and a 1 MiB link name
    ents = BUILDERS['oci']()
    c.add('huge-string', 'oci-tar-pax-name-1mib', 'tar', ents + [E('n' * (1 << 20), b'x')], 'oci.tar', 'any', heavy=True)
    c.add('huge-string', 'oci-tar-pax-linkname-1mib', 'tar', ents + [E('lnk', type='symlink', linkname='t' * (1 << 20))], 'oci.tar', 'any', heavy=True)


def layer_with(extra_entries):
    """An OCI image whose first layer is the base layer plus hostile entries (digests and diff IDs true)."""
    from make_base import layer_tar
    import io as _io
    base = layer_tar(0)
    with tarfile.open(fileobj=_io.BytesIO(base), mode='r:') as t:
        members = [(m, t.extractfile(m).read() if m.isfile() else b'') for m in t.getmembers()]
    ents = []
    for m, data in members:
        kind = {tarfile.DIRTYPE: 'dir', tarfile.SYMTYPE: 'symlink', tarfile.LNKTYPE: 'hardlink'}.get(m.type, 'file')
        ents.append(E(m.name + ('/' if kind == 'dir' else ''), data, type=kind, linkname=m.linkname, mode=m.mode))
    rawtar = tar_bytes(ents + extra_entries)

    def lay(layers, which):
        if which == 0:
            blob = gz(rawtar)
            layers[0].update(data=blob, digest='sha256:' + sha256(blob), path='blobs/sha256/' + sha256(blob), size=len(blob),
                             diffId='sha256:' + sha256(rawtar))
    return build_oci({'layers': lay})


def cat_layer_content(c):
    """Layers whose files are hostile (names that climb out, links out, devices): the archive itself is valid.
    diff writes differing files into --report-dir: nothing may land outside it. Absolute names point into the
    test's sandbox (the parent of OUT) so that an escape is seen, not done to the machine."""
    sandbox = os.path.dirname(c.out)
    cases = {
        'dotdot-file': [E('../../escaped-dotdot', b'x\n', mode=0o644)],
        'deep-dotdot-file': [E('app/../../../../escaped-deep', b'x\n', mode=0o644)],
        'absolute-file': [E(sandbox + '/escaped-absolute', b'x\n', mode=0o644)],
        'symlink-then-file': [E('up', type='symlink', linkname='../../..'), E('up/escaped-through-symlink', b'x\n', mode=0o644)],
        'abs-symlink-then-file': [E('abs', type='symlink', linkname=sandbox), E('abs/escaped-through-abs-symlink', b'x\n', mode=0o644)],
        'changed-file-via-symlink-dir': [E('app2', type='symlink', linkname='app'), E('app2/hello.txt', b'changed\n', mode=0o644)],
        'hardlink-out': [E('hl', type='hardlink', linkname='../../outside/layer0.bin')],
        'hardlink-abs': [E('hl', type='hardlink', linkname='/etc/passwd')],
        'fifo-and-devices': [E('dev/fifo', type='fifo'), E('dev/zero', type='chr', devmajor=1, devminor=5), E('dev/loop0', type='blk', devmajor=7)],
        'dir-then-file-same-name': [E('app/hello.txt/', type='dir'), E('app/hello.txt/inner', b'x\n', mode=0o644)],
        'long-name-8k': [E('d/' + 'n' * 8000, b'x\n', mode=0o644)],
        'changed-content': [E('app/hello.txt', b'a different hello\n', mode=0o644)],
        'whiteouts': [E('app/.wh.hello.txt', b''), E('etc/.wh..wh..opq', b'')],
        'many-files-10000': [E(f'many/{i:05d}', str(i).encode(), mode=0o644) for i in range(10_000)],
    }
    for label, extra in cases.items():
        entries = layer_with(extra)
        for form in ('tar', 'dir'):
            c.add('layer-content', f'oci-{form}-{label}', form, entries, base_of('oci', form), 'any',
                  heavy=label == 'many-files-10000', note='diff runs with --report-dir')
    for v in c.variants:
        if v['category'] == 'layer-content':
            v['reportDir'] = True


def raw_header(name, typeflag, size, linkname=b''):
    """One ustar header block, written by hand (the fields tarfile will not write: any type, any size)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b'0000644\x00'
    h[108:116] = b'0000000\x00'
    h[116:124] = b'0000000\x00'
    h[124:136] = size if isinstance(size, bytes) else b'%011o\x00' % size
    h[136:148] = b'00000000000\x00'
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname
    h[257:265] = b'ustar\x0000'
    h[148:156] = b' ' * 8
    h[148:156] = b'%06o\x00 ' % sum(h)
    return bytes(h)


def pax_block(records, typeflag=b'x', declared=None):
    body = b''
    for k, v in records:
        rec = b' ' + k + b'=' + v + b'\n'
        n = len(rec) + 1
        while len(str(n).encode()) + len(rec) != n:
            n += 1
        body += str(n).encode() + rec
    hdr = raw_header(b'PaxHeader', typeflag, declared if declared is not None else len(body))
    return hdr + body + b'\0' * ((512 - len(body) % 512) % 512)


def cat_tar_pax(c):
    """Tar extensions written by hand: pax records that lie or overflow, GNU long names, unknown types."""
    found, entries = paths_of('oci')
    data = tar_bytes(entries)
    members = {n: (off, doff, s) for (n, off, doff, s) in tar_members(data)}
    layer = found['layer0']
    off, doff, size = members[layer]
    cases = {
        'pax-size-huge': (pax_block([(b'size', b'99999999999999')]), 'verifyReject'),
        'pax-size-negative': (pax_block([(b'size', b'-1')]), 'verifyReject'),
        'pax-size-garbage': (pax_block([(b'size', b'12abc')]), 'verifyReject'),
        'pax-size-plus-one': (pax_block([(b'size', str(size + 1).encode())]), 'verifyReject'),
        'pax-path-dotdot': (pax_block([(b'path', b'../../' + layer.encode())]), 'verifyReject'),
        'pax-path-absolute': (pax_block([(b'path', b'/etc/passwd')]), 'verifyReject'),
        'pax-path-other-blob': (pax_block([(b'path', found['config'].encode())]), 'verifyReject'),
        'pax-record-length-huge': (raw_header(b'PaxHeader', b'x', 30) + (b'999999999 path=x\n' + b'\0' * 495), 'any'),
        'pax-record-length-zero': (raw_header(b'PaxHeader', b'x', 12) + (b'0 path=x\n\n\n' + b'\0' * 500), 'any'),
        'pax-record-no-equals': (raw_header(b'PaxHeader', b'x', 10) + (b'10 pathx\n\n' + b'\0' * 502), 'any'),
        'pax-header-declares-1gib': (pax_block([(b'path', layer.encode())], declared=1 << 30), 'verifyReject'),
        'pax-header-declares-8gib': (pax_block([(b'path', layer.encode())], declared=b'77777777777\x00'), 'verifyReject'),
        'pax-global-header': (pax_block([(b'path', b'evil')], typeflag=b'g'), 'any'),
        'gnu-longname-dotdot': (raw_header(b'././@LongLink', b'L', 30) + (b'../../../../../../etc/passwd\0\0' + b'\0' * 482), 'verifyReject'),
        'gnu-longname-1gib': (raw_header(b'././@LongLink', b'L', 1 << 30) + b'\0' * 512, 'verifyReject'),
        'gnu-longlink-huge': (raw_header(b'././@LongLink', b'K', 1 << 30) + b'\0' * 512, 'verifyReject'),
        'pax-then-pax': (pax_block([(b'path', b'x')]) + pax_block([(b'size', b'1')]), 'verifyReject'),
    }
    for label, (prefix, expect) in cases.items():
        b = data[:off] + prefix + data[off:]
        for form in ('tar', 'tar.gz'):
            c.add('tar-pax', f'oci-{form}-{label}', form, b if form == 'tar' else gz(b), base_of('oci', form), expect,
                  heavy='gib' in label, note=f'before the header of {layer}')
    # unknown or unusual entry types at the layer's place
    for tf in (b'S', b'V', b'M', b'Z', b'7', b'\x00', b'D'):
        hdr = bytearray(data[off:off + 512])
        hdr[156:157] = tf
        hdr[148:156] = b' ' * 8
        hdr[148:156] = b'%06o\x00 ' % sum(hdr)
        b = data[:off] + bytes(hdr) + data[off + 512:]
        name = 'nul' if tf == b'\x00' else tf.decode()
        # POSIX reads an unknown type as a regular file ('Z'); '7' is contiguous, NUL regular; 'S' and 'D' are
        # GNU types a reader may take as files: only volume headers and continuations cannot be the layer
        c.add('tar-pax', f'oci-tar-layer-type-{name}', 'tar', b, 'oci.tar', 'verifyReject' if tf in (b'V', b'M') else 'any')


def zstd(data, level=3):
    import subprocess
    return subprocess.run(['zstd', '-q', '-c', f'-{level}', '--no-check'], input=data, stdout=subprocess.PIPE, check=True).stdout


def cat_zstd(c):
    """Zstandard archives and layers, written by the zstd program (an independent writer)."""
    import shutil as _sh
    if not _sh.which('zstd'):
        sys.exit('gen_corpus.py: the zstd program writes the zstd variants: apt-get install zstd')
    data = tar_bytes(BUILDERS['oci']())
    z = zstd(data)
    c.add('zstd', 'oci', 'tar.zst', z, 'oci.tar', 'accept')
    for i in range(12):
        cut = c.rng.randrange(1, len(z))
        c.add('zstd', f'oci-{i:02d}-cut-at-{cut}', 'tar.zst', z[:cut], 'oci.tar', 'readError')
    for i in range(8):
        pos = c.rng.randrange(4, len(z))
        b = bytearray(z)
        b[pos] ^= c.rng.randrange(1, 256)
        c.add('zstd', f'oci-{i:02d}-flip-{pos}', 'tar.zst', bytes(b), 'oci.tar', 'any')
    c.add('zstd', 'magic-then-garbage', 'tar.zst', b'\x28\xb5\x2f\xfd' + bytes(c.rng.randrange(256) for _ in range(2000)), 'oci.tar', 'readError')
    bomb = zstd(bytes(64 << 20), 19) * 160  # 10 GiB of zeros in concatenated frames
    c.add('zstd', 'all-zeros-10gib', 'tar.zst', bomb, 'oci.tar', 'readError', heavy=True)
    # a zstd layer: valid, corrupt, a bomb
    def zlayer(kind):
        def lay(layers, which):
            if which == 0:
                from make_base import layer_tar
                rawtar = layer_tar(0)
                blob = {'valid': lambda: zstd(rawtar), 'corrupt': lambda: zstd(rawtar)[:-7] + b'garbage',
                        'bomb': lambda: bomb}[kind]()
                layers[0].update(data=blob, digest='sha256:' + sha256(blob), path='blobs/sha256/' + sha256(blob), size=len(blob),
                                 mediaType='application/vnd.oci.image.layer.v1.tar+zstd')
        return {'layers': lay}
    for kind, expect in (('valid', 'accept'), ('corrupt', 'verifyReject'), ('bomb', 'verifyReject')):
        c.add('zstd', f'oci-tar-layer-{kind}', 'tar', build_oci(zlayer(kind)), 'oci.tar', expect, heavy=kind == 'bomb')


def cat_docker_manifest(c):
    """Archives with both index.json and manifest.json (BuildKit docker exporter, Docker >= 25 docker save)
    whose manifest.json says something else than index.json: `docker load` (manifest.json) and containerd
    (index.json) would load different images, so no proof may be given."""
    found, _ = paths_of('oci')
    cases = {
        'config-is-the-manifest': (lambda e: e.__setitem__('Config', found['manifest']), 'verifyReject'),
        'config-missing': (lambda e: e.__setitem__('Config', 'blobs/sha256/' + '0' * 64), 'verifyReject'),
        'config-dotdot': (lambda e: e.__setitem__('Config', '../' + e['Config']), 'verifyReject'),
        'layers-swapped': (lambda e: e.__setitem__('Layers', e['Layers'][::-1]), 'verifyReject'),
        'layers-one-missing': (lambda e: e.__setitem__('Layers', e['Layers'][:1]), 'verifyReject'),
        'layers-one-extra': (lambda e: e.__setitem__('Layers', e['Layers'] + e['Layers'][:1]), 'verifyReject'),
        'layer-missing-blob': (lambda e: e['Layers'].__setitem__(0, 'blobs/sha256/' + '1' * 64), 'verifyReject'),
        'layer-is-the-config': (lambda e: e['Layers'].__setitem__(0, e['Config']), 'verifyReject'),
        'other-tags': (lambda e: e.__setitem__('RepoTags', ['someone:else']), 'any'),
        'no-tags': (lambda e: e.__setitem__('RepoTags', None), 'any'),
    }
    for label, (fn, expect) in cases.items():
        def hook(dm, fn=fn):
            fn(dm[0])
        for fmt in ('docker-exporter', 'docker-save-oci'):
            for form in ('tar', 'tar.gz'):
                c.add('docker-manifest', f'{fmt}-{form}-{label}', form, build_oci({'docker_manifest': hook}, fmt),
                      base_of(fmt, form), expect)
    # a second entry for another (missing) image, and a repeated entry
    def second_missing(dm):
        dm.append(dict(dm[0], Config='blobs/sha256/' + '2' * 64, RepoTags=['other:1']))
    def repeated(dm):
        dm.append(dict(dm[0], RepoTags=['hostile:again']))
    for label, hook, expect in (('second-entry-missing-config', second_missing, 'verifyReject'), ('same-image-twice', repeated, 'any')):
        for fmt in ('docker-exporter', 'docker-save-oci'):
            c.add('docker-manifest', f'{fmt}-tar-{label}', 'tar', build_oci({'docker_manifest': hook}, fmt), base_of(fmt, 'tar'), expect)


def image_with_layer_bytes(rawtar, compress=True):
    """An OCI image whose first layer holds exactly these bytes (gzip-compressed or not), digests and diff ID true."""
    def lay(layers, which):
        if which == 0:
            blob = gz(rawtar) if compress else rawtar
            layers[0].update(data=blob, digest='sha256:' + sha256(blob), path='blobs/sha256/' + sha256(blob), size=len(blob),
                             diffId='sha256:' + sha256(rawtar),
                             mediaType=MT['oci_layer_gzip'] if compress else MT['oci_layer'])
    return build_oci({'layers': lay})


def cat_layer_tar(c):
    """Layers that are not sound tars, with true digests and diff IDs: the archive verifies, and diff's layer
    parser (which reads them entry by entry) must end with a result or one clean error, within bounds."""
    from make_base import layer_tar
    good = layer_tar(0)
    members = tar_members(good)
    cases = {}
    for i in range(10):
        cut = c.rng.randrange(1, len(good))
        cases[f'cut-{i:02d}-at-{cut}'] = good[:cut]
    for i in range(10):
        name, off, _, _ = c.rng.choice(members)
        pos = off + c.rng.randrange(0, 512)
        b = bytearray(good)
        b[pos] ^= c.rng.randrange(1, 256)
        cases[f'header-flip-{i:02d}-at-{pos}'] = bytes(b)
    name, off, _, size = [m for m in members if m[3] > 0][0]
    for label, fn in SIZE_FIELDS.items():
        cases[f'size-{label}'] = patch_size(good, off, fn(size))
    for label, prefix in (
        ('pax-size-huge', pax_block([(b'size', b'99999999999999')])),
        ('pax-header-1gib', pax_block([(b'path', b'x')], declared=1 << 30)),
        ('gnu-longname-1gib', raw_header(b'././@LongLink', b'L', 1 << 30) + b'\0' * 512),
        ('pax-path-dotdot', pax_block([(b'path', b'../../../../escaped')])),
        ('pax-xattr-binary', pax_block([(b'SCHILY.xattr.security.capability', bytes(range(256)))])),
        ('pax-many-records', pax_block([(b'x%d' % i, b'v') for i in range(20000)])),
    ):
        cases[label] = good[:off] + prefix + good[off:]
    cases['random-bytes'] = bytes(c.rng.randrange(256) for _ in range(4096))
    cases['empty'] = b''
    cases['zeros-only'] = bytes(10240)
    cases['entry-8gib-declared'] = raw_header(b'big', b'0', b'77777777777\x00') + bytes(1024)
    cases['gzip-inside'] = gz(good)  # a layer whose uncompressed content is itself gzip
    for label, rawtar in cases.items():
        c.add('layer-tar', f'oci-tar-{label}', 'tar', image_with_layer_bytes(rawtar), 'oci.tar', 'any',
              heavy='gib' in label, note='layer content is not a sound tar; digests and diff ID are true')
    for label in ('random-bytes', 'size-plus512', 'pax-header-1gib'):
        c.add('layer-tar', f'oci-tar-uncompressed-{label}', 'tar', image_with_layer_bytes(cases[label], compress=False), 'oci.tar', 'any',
              heavy='gib' in label)


def cat_file_names(c):
    """Inputs whose own file names are hostile: a newline (a forged second error line), terminal escapes, a
    right-to-left override, a leading dash. Errors must still be one line that names the input (escaped)."""
    good = tar_bytes(BUILDERS['oci']())
    bad = good[:5000]
    names = {
        'newline': 'a\nError: forged line',
        'carriage-return': 'a\rError: forged',
        'ansi-escape': 'a\x1b[31mred\x1b[0m',
        'rtl-override': 'a\u202erat.exe',
        'leading-dash': '-rf',
        'spaces-and-quotes': 'a b "c" \'d\'',
        'tab': 'a\tb',
    }
    for label, raw_name in names.items():
        for kind, data, expect in (('valid', good, 'accept'), ('truncated', bad, 'readError')):
            def write(path, data=data, raw_name=raw_name):
                os.makedirs(path)
                with open(os.path.join(path, raw_name + '.tar'), 'wb') as f:
                    f.write(data)
            c.add('file-name', f'{label}-{kind}', 'file', write, 'oci.tar', expect)
            # the variant is the file inside the directory written above
            c.variants[-1]['path'] = os.path.join(c.variants[-1]['path'], raw_name + '.tar')


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = os.path.abspath(args[0])
    seed = int(args[args.index('--seed') + 1]) if '--seed' in args else 11
    only = set(args[args.index('--only') + 1].split(',')) if '--only' in args else None
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    bases = write_bases(out)
    c = Corpus(out, seed)
    steps = {'base': cat_base, 'truncate': cat_truncate, 'header-flip': cat_header_flip, 'json-flip': cat_json_flip,
             'wrong-type': cat_wrong_types, 'tar-size': cat_sizes, 'digest-alg': cat_digests, 'traversal': cat_traversal,
             'link-out': cat_links, 'duplicate': cat_duplicates, 'special': cat_special, 'gzip-bomb': cat_bombs,
             'nesting': cat_nesting, 'fan-out': cat_fanout, 'cycle': cat_cycles, 'huge-string': cat_huge,
             'layer-content': cat_layer_content, 'tar-pax': cat_tar_pax, 'zstd': cat_zstd, 'docker-manifest': cat_docker_manifest,
             'layer-tar': cat_layer_tar, 'file-name': cat_file_names}
    for name, fn in steps.items():
        if only is None or name in only:
            c.rng = random.Random(f'{seed}:{name}')  # per category: --only gives the same bytes as a full run
            fn(c)
    for v in c.variants:
        v['base'] = bases[v['base']]
    with open(os.path.join(out, 'corpus.json'), 'w') as f:
        json.dump({'seed': seed, 'bases': bases, 'variants': c.variants}, f, indent=1)
    counts = {}
    for v in c.variants:
        counts[v['category']] = counts.get(v['category'], 0) + 1
    print(json.dumps({'variants': len(c.variants), 'categories': counts}))


if __name__ == '__main__':
    main()

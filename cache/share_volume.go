package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A cache volume in a registry is one OCI manifest tagged v-<arch>-<name>
// (a volume may hold native code) with VolumeArtifactType, a VolumeConfig
// inlined in its config descriptor, and VolumeBuckets zstd layers (see
// scanVolume). The tag is mutable: each push replaces it, after merging a
// push that came in between (see PushVolume).
const (
	VolumeArtifactType = "application/vnd.pipe.volume.v1"
	volumeConfigType   = "application/vnd.pipe.volume.config.v1+json"
	volumeSchema       = "pipe.volume/v1"

	// DefaultVolumeMax is the default size cap of a pushed volume: beyond
	// it, the oldest files (by mtime) stay local.
	DefaultVolumeMax = 2 << 30

	volSyncDir = "volsync" // volsync/<name>.json: what a volume was last synced with

	bucketAnnotation = "org.pipe.bucket" // a bucket layer's index
	filesAnnotation  = "org.pipe.files"  // its number of files: an empty bucket is not fetched
)

// VolumeConfig is the config of a volume in a registry.
type VolumeConfig struct {
	Schema  string    `json:"schema"` // "pipe.volume/v1"
	Name    string    `json:"name"`
	Base    string    `json:"base,omitempty"` // the manifest this push replaced
	RunID   string    `json:"runID,omitempty"`
	Created time.Time `json:"created"`
	Files   int       `json:"files"`
	Size    int64     `json:"size"`
}

// VolumeReport says what a restore or push of a volume did.
type VolumeReport struct {
	Repo     string
	Missing  bool  // restore: the registry has no such volume
	Changed  bool  // push: the volume had changed since it was last synced
	Buckets  int   // buckets fetched or pushed
	Bytes    int64 // compressed bytes that travelled
	Merged   int   // push: buckets taken from a push made meanwhile by another run
	Lost     int   // push: buckets of that other push replaced by this run's
	Replaced int   // push: buckets of this run that a push racing it replaced (pushed again next time)
	Capped   int   // files left out of the push by the size cap
	CappedSz int64 // their bytes
}

// volSync is what the store knows of a volume's last sync with a registry.
type volSync struct {
	Repo   string                `json:"repo"`
	Base   string                `json:"base"` // manifest digest
	Layers [VolumeBuckets]string `json:"layers"`
	Prints [VolumeBuckets]string `json:"prints"` // local fingerprints then
	Stale  [VolumeBuckets]bool   `json:"stale"`  // the local volume lacks the registry's content of this bucket
}

// volumeTag is the tag of a volume: v-<arch>-<name>, the name shortened
// and made unique by a hash where the tag would pass OCI's 128 characters.
func volumeTag(name string) string {
	tag := "v-" + runtime.GOARCH + "-" + name
	if len(tag) > 128 {
		tag = tag[:100] + "-" + sha256Hash([]byte(name)).Hex[:16]
	}
	return tag
}

func (s *Store) volSyncPath(name string) string { return s.path(volSyncDir, name+".json") }

func (s *Store) loadVolSync(name string) volSync {
	var vs volSync
	if b, err := os.ReadFile(s.volSyncPath(name)); err == nil {
		_ = json.Unmarshal(b, &vs)
	}
	return vs
}

func (s *Store) saveVolSync(name string, vs volSync) error {
	if err := os.MkdirAll(s.path(volSyncDir), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(vs, "", "  ")
	return s.writeFileAtomic(s.volSyncPath(name), b)
}

// RestoreVolume brings the named cache volume up to date with rem: the
// buckets whose content the local volume lacks are fetched, checked against
// their digests, and extracted over it (files it holds that the registry
// does not are kept). It holds the volume exclusively meanwhile. max is the
// size cap (see PushVolume). Errors are *RemoteError; a volume the registry
// lacks is a report with Missing set.
func (s *Store) RestoreVolume(ctx context.Context, rem *Remote, name string, max int64) (*VolumeReport, error) {
	if err := rem.readable(); err != nil {
		return nil, rem.errorf(err, "restore volume %s", name)
	}
	rep, err := s.restoreVolume(ctx, rem, name, max)
	if err != nil && !errors.Is(err, ErrNotFound) {
		rem.fail(err, false)
		return nil, rem.errorf(err, "restore volume %s", name)
	}
	return rep, nil
}

func (s *Store) restoreVolume(ctx context.Context, rem *Remote, name string, max int64) (*VolumeReport, error) {
	rep := &VolumeReport{Repo: rem.String()}
	m, _, digest, err := rem.lookup(ctx, volumeTag(name), VolumeArtifactType)
	if errors.Is(err, ErrNotFound) {
		rep.Missing = true
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != VolumeBuckets {
		return nil, fmt.Errorf("tag %s has %d layers, want %d", volumeTag(name), len(m.Layers), VolumeBuckets)
	}
	dir, release, err := s.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	defer release()
	st := s.loadVolSync(name)
	now, err := scanVolume(dir, max)
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if st.Layers[i] == l.Digest.String() && !st.Stale[i] && st.Prints[i] == now.prints[i] {
			continue // the volume holds this bucket as it is in the registry
		}
		if l.Annotations[filesAnnotation] == "0" {
			continue // nothing to add: a restore never removes files
		}
		if err := s.fetchBucket(ctx, rem, l, dir); err != nil {
			return nil, fmt.Errorf("bucket %d: %w", i, err)
		}
		rep.Buckets++
		rep.Bytes += l.Size
	}
	after, err := scanVolume(dir, max)
	if err != nil {
		return nil, err
	}
	next := volSync{Repo: rem.String(), Base: digest.String(), Prints: after.prints}
	for i, l := range m.Layers {
		next.Layers[i] = l.Digest.String()
	}
	return rep, s.saveVolSync(name, next)
}

// fetchBucket downloads a bucket blob into tmp/, checking its digest, and
// only then extracts it over the volume dir.
func (s *Store) fetchBucket(ctx context.Context, rem *Remote, d v1.Descriptor, dir string) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	entry, err := s.newTempEntry("bucket")
	if err != nil {
		return err
	}
	defer removeTree(entry)
	blob := filepath.Join(entry, "blob")
	if err := rem.download(ctx, d, blob); err != nil {
		return err
	}
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	un, _, closeDec, err := decompress(f)
	if err != nil {
		return err
	}
	defer closeDec()
	_, err = extractLayer(ctx, un, dir, extractOptions{Layer: d.Digest.String(), Root: os.Geteuid() == 0})
	return err
}

// download writes the blob d to path and checks its size and digest.
func (r *Remote) download(ctx context.Context, d v1.Descriptor, path string) error {
	puller, _, err := r.clients()
	if err != nil {
		return err
	}
	wd := newWatchdog(ctx, r.timeout)
	defer wd.stop()
	l, err := puller.Layer(wd.ctx, r.repo.Digest(d.Digest.String()))
	if err != nil {
		return wd.err(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return wd.err(err)
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	g := &digestGuard{rc: wd.reader(rc), h: sha256.New(), want: d.Digest}
	n, err := io.Copy(f, g)
	if err != nil {
		return wd.err(err)
	}
	if got := g.sum(); got != d.Digest || n != d.Size {
		return &DigestError{What: "volume bucket", Want: d.Digest, Got: got}
	}
	return f.Close()
}

// VolumeOptions tune PushVolume.
type VolumeOptions struct {
	Max   int64  // size cap in bytes; 0: DefaultVolumeMax, < 0: none
	RunID string // recorded in the config
}

func (o VolumeOptions) max() int64 {
	if o.Max == 0 {
		return DefaultVolumeMax
	}
	return o.Max
}

// PushVolume pushes the named cache volume to rem when it changed since its
// last restore or push. Only buckets the registry lacks travel. When another
// run pushed the volume in between, the two are merged bucket by bucket: the
// buckets this run changed are its own, the others are the other run's
// (Merged counts those); a bucket both changed is this run's (Lost counts the
// other run's updates so lost). Registries have no compare-and-swap, so a
// push racing this one may still replace it: an update is then lost, never
// corrupted, as every manifest is whole. Files beyond the size cap (oldest
// first) stay local. Errors are *RemoteError.
func (s *Store) PushVolume(ctx context.Context, rem *Remote, name string, o VolumeOptions) (*VolumeReport, error) {
	if err := rem.writable(); err != nil {
		return nil, rem.errorf(err, "push volume %s", name)
	}
	rep, err := s.pushVolume(ctx, rem, name, o)
	if err != nil {
		rem.fail(err, true)
		return nil, rem.errorf(err, "push volume %s", name)
	}
	return rep, nil
}

func (s *Store) pushVolume(ctx context.Context, rem *Remote, name string, o VolumeOptions) (*VolumeReport, error) {
	dir, release, err := s.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	defer release()
	rep := &VolumeReport{Repo: rem.String()}
	st := s.loadVolSync(name)
	now, err := scanVolume(dir, o.max())
	if err != nil {
		return nil, err
	}
	rep.Capped, rep.CappedSz = now.dropped, now.dropB
	if st.Base != "" && st.Repo == rem.String() && st.Prints == now.prints {
		return rep, nil
	}
	rep.Changed = true
	entry, err := s.newTempEntry("volume")
	if err != nil {
		return nil, err
	}
	defer removeTree(entry)
	var sent atomic.Int64
	blobs, err := buildBuckets(dir, entry, now, &sent)
	if err != nil {
		return nil, err
	}
	layers, next, err := s.mergeBuckets(ctx, rem, name, st, now, blobs, rep)
	if err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(VolumeConfig{Schema: volumeSchema, Name: name, Base: next.Base, RunID: o.RunID,
		Created: time.Now().UTC(), Files: countFiles(now), Size: now.size})
	_, pusher, err := rem.clients()
	if err != nil {
		return nil, err
	}
	annotate := func(i int) map[string]string {
		if rb, ok := layers[i].(*remoteBlob); ok {
			return rb.d.Annotations
		}
		return map[string]string{bucketAnnotation: strconv.Itoa(i), filesAnnotation: strconv.Itoa(len(now.buckets[i]))}
	}
	if err := rem.putArtifact(ctx, pusher, volumeTag(name), VolumeArtifactType, volumeConfigType, cfg, layers, annotate); err != nil {
		return nil, err
	}
	rep.Bytes = sent.Load()
	return rep, s.saveVolSync(name, s.readBack(ctx, rem, name, next, rep))
}

// readBack reads the tag again after a push. When another run's push
// replaced this one in between (registries have no compare-and-swap), the
// buckets of this run that the registry lost are marked changed, so that the
// next push sends them again, and the report says so.
func (s *Store) readBack(ctx context.Context, rem *Remote, name string, next volSync, rep *VolumeReport) volSync {
	m, _, digest, err := rem.lookup(ctx, volumeTag(name), VolumeArtifactType)
	if err != nil || len(m.Layers) != VolumeBuckets {
		next.Prints = [VolumeBuckets]string{} // unknown: everything is pushed again next time
		return next
	}
	next.Base = digest.String()
	for i, l := range m.Layers {
		if l.Digest.String() != next.Layers[i] {
			rep.Replaced++
			next.Layers[i], next.Prints[i], next.Stale[i] = l.Digest.String(), "", true
		}
	}
	return next
}

// buildBuckets writes every bucket's blob into entry.
func buildBuckets(dir, entry string, now *volScan, sent *atomic.Int64) ([VolumeBuckets]*blobFile, error) {
	var blobs [VolumeBuckets]*blobFile
	for i := range now.buckets {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeBucket(pw, dir, now.buckets[i])) }()
		b, err := compressTarJobs(pr, entry, "bucket-"+strconv.Itoa(i), 1)
		pr.CloseWithError(io.EOF)
		if err != nil {
			return blobs, fmt.Errorf("bucket %d: %w", i, err)
		}
		b.sent = sent
		blobs[i] = b
	}
	return blobs, nil
}

// mergeBuckets chooses each bucket's layer: this run's, or that of a push
// made since this store's last sync when this run did not change the bucket.
func (s *Store) mergeBuckets(ctx context.Context, rem *Remote, name string, st volSync, now *volScan, blobs [VolumeBuckets]*blobFile, rep *VolumeReport) ([]v1.Layer, volSync, error) {
	next := volSync{Repo: rem.String(), Prints: now.prints}
	layers := make([]v1.Layer, VolumeBuckets)
	for i, b := range blobs {
		layers[i], next.Layers[i] = b, b.digest.String()
	}
	cur, _, curDigest, err := rem.lookup(ctx, volumeTag(name), VolumeArtifactType)
	if errors.Is(err, ErrNotFound) || (err == nil && len(cur.Layers) != VolumeBuckets) {
		return layers, next, nil
	}
	if err != nil {
		return nil, next, err
	}
	next.Base = curDigest.String()
	known := st.Base != "" && st.Repo == rem.String()
	for i, theirs := range cur.Layers {
		if theirs.Digest == blobs[i].digest {
			continue
		}
		changedHere := !known || st.Prints[i] != now.prints[i]
		changedThere := !known || theirs.Digest.String() != st.Layers[i]
		switch {
		case !changedHere: // theirs is newer, or this volume never held it whole
			layers[i] = &remoteBlob{theirs}
			next.Layers[i], next.Stale[i] = theirs.Digest.String(), true // fetched at the next restore
			if changedThere {
				rep.Merged++
			}
		case changedThere:
			rep.Lost++
		}
	}
	return layers, next, nil
}

func countFiles(vs *volScan) int {
	n := 0
	for _, b := range vs.buckets {
		n += len(b)
	}
	return n
}

// remoteBlob is a layer the registry holds already: pushing it uploads
// nothing (the pusher finds it with a HEAD).
type remoteBlob struct{ d v1.Descriptor }

func (b *remoteBlob) Digest() (v1.Hash, error) { return b.d.Digest, nil }
func (b *remoteBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diffID of a remote bucket: not known")
}
func (b *remoteBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *remoteBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *remoteBlob) Compressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("bucket %s vanished from the registry during the push", b.d.Digest)
}
func (b *remoteBlob) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }

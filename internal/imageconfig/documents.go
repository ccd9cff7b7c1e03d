package imageconfig

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Bounds on what a registry sends. A registry is chosen by whoever writes
// the pod spec, so everything it answers is hostile until bounded: each
// bound is checked before the bytes are parsed (and, for sizes a document
// declares, before they are fetched).
const (
	// maxManifestBytes bounds an image manifest or index: the 4 MiB the
	// distribution spec asks registries to accept at least, and the limit of
	// containers/image (CRI-O, Podman), so no image a CRI-O node runs is
	// refused. Real manifests are a few KiB.
	maxManifestBytes = 4 << 20
	// maxConfigBytes bounds an image config: containers/image's limit too.
	// Real configs are a few KiB, rarely more than 100 KiB.
	maxConfigBytes = 4 << 20
	// maxOtherBytes bounds every other answer: the /v2/ ping, token
	// services, error bodies, the ACR exchange. go-containerregistry reads
	// at most as much of tokens and errors itself; this makes the refusal
	// ours, with a clear message, and bounds the ping it drains.
	maxOtherBytes = 64 << 10
	// maxIndexManifests bounds the manifests of an image index. Real
	// multi-platform indexes list a few dozen (platforms and attestations).
	maxIndexManifests = 1024
	// maxCommandBytes bounds each of ENTRYPOINT, CMD, USER and WORKDIR as
	// written in the config's JSON. The command ends up in the pod spec, and
	// Linux refuses a single argument longer than 128 KiB anyway; real
	// commands are well under 1 KiB.
	maxCommandBytes = 64 << 10
)

// docKind is what a manifest document is.
type docKind int

const (
	kindManifest docKind = iota // an image manifest (OCI or Docker schema 2)
	kindIndex                   // an image index or Docker manifest list
	kindSchema1                 // a Docker schema 1 manifest
)

// presence records that a JSON field was there, whatever its value, without
// keeping the value.
type presence bool

// UnmarshalJSON implements json.Unmarshaler.
func (p *presence) UnmarshalJSON(b []byte) error {
	*p = string(b) != "null"
	return nil
}

// documentKind is what raw is: its media type as served says so, else its
// own mediaType field, else its shape (registries that serve a wrong
// Content-Type get the benefit of the doubt; what the document holds is
// checked when it is parsed).
func documentKind(served types.MediaType, raw []byte) docKind {
	if k, ok := kindOf(served); ok {
		return k
	}
	var sniff struct {
		MediaType     types.MediaType `json:"mediaType"`
		SchemaVersion json.Number     `json:"schemaVersion"`
		Manifests     presence        `json:"manifests"`
		FSLayers      presence        `json:"fsLayers"`
	}
	if json.Unmarshal(raw, &sniff) != nil {
		return kindManifest // parseManifest says what is wrong with it
	}
	if k, ok := kindOf(sniff.MediaType); ok {
		return k
	}
	switch {
	case bool(sniff.Manifests):
		return kindIndex
	case sniff.SchemaVersion == "1" || bool(sniff.FSLayers):
		return kindSchema1
	}
	return kindManifest
}

func kindOf(mt types.MediaType) (docKind, bool) {
	switch {
	case mt.IsIndex():
		return kindIndex, true
	case mt.IsSchema1():
		return kindSchema1, true
	case mt.IsImage():
		return kindManifest, true
	}
	return 0, false
}

// descriptorDoc is the part of an OCI descriptor the lookup uses.
type descriptorDoc struct {
	MediaType types.MediaType `json:"mediaType"`
	Size      int64           `json:"size"`
	Digest    v1.Hash         `json:"digest"`
	// Data is the content embedded in the descriptor (OCI 1.1), if any.
	Data     []byte       `json:"data,omitempty"`
	Platform *platformDoc `json:"platform,omitempty"`
}

type platformDoc struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (d descriptorDoc) descriptor() v1.Descriptor {
	out := v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest, Data: d.Data}
	if d.Platform != nil {
		out.Platform = &v1.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
	}
	return out
}

// parseIndex reads the manifests an image index lists. It refuses an index
// over maxManifestBytes or listing more than maxIndexManifests.
func parseIndex(raw []byte) ([]v1.Descriptor, error) {
	if len(raw) > maxManifestBytes {
		return nil, &tooLargeError{what: "image index", limit: maxManifestBytes}
	}
	var doc struct {
		Manifests []descriptorDoc `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &invalidDocumentError{what: "image index", err: err}
	}
	if len(doc.Manifests) > maxIndexManifests {
		return nil, &tooManyManifestsError{n: len(doc.Manifests)}
	}
	out := make([]v1.Descriptor, len(doc.Manifests))
	for i, m := range doc.Manifests {
		out[i] = m.descriptor()
	}
	return out, nil
}

// checkChild checks the manifest an index chose before it is fetched: an
// image manifest (nested indexes are not followed), of a size the lookup
// reads.
func checkChild(d v1.Descriptor) error {
	switch {
	case d.MediaType.IsIndex():
		return &notImageError{what: describeMediaType(string(d.MediaType)) + " inside an index"}
	case d.Size > maxManifestBytes:
		return &tooLargeError{what: "image manifest", limit: maxManifestBytes, declared: true}
	case d.Size <= 0:
		return &invalidDocumentError{what: "image index (a manifest without a size)"}
	}
	return nil
}

// parseManifest reads the config descriptor of an image manifest and
// checks it: a config media type (not a Helm chart's, a signature's, ...),
// a digest, and a declared size the lookup reads.
func parseManifest(raw []byte) (v1.Descriptor, error) {
	if len(raw) > maxManifestBytes {
		return v1.Descriptor{}, &tooLargeError{what: "image manifest", limit: maxManifestBytes}
	}
	var doc struct {
		Config *descriptorDoc `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return v1.Descriptor{}, &invalidDocumentError{what: "image manifest", err: err}
	}
	if doc.Config == nil {
		return v1.Descriptor{}, &invalidDocumentError{what: "image manifest (no config)"}
	}
	c := doc.Config.descriptor()
	c.Platform = nil
	switch {
	case c.MediaType != "" && !c.MediaType.IsConfig():
		return v1.Descriptor{}, &notImageError{what: describeMediaType(string(c.MediaType))}
	case c.Digest == v1.Hash{}:
		return v1.Descriptor{}, &invalidDocumentError{what: "image manifest (a config without a digest)"}
	case c.Size > maxConfigBytes:
		return v1.Descriptor{}, &tooLargeError{what: "image config", limit: maxConfigBytes, declared: true}
	case c.Size <= 0:
		return v1.Descriptor{}, &invalidDocumentError{what: "image manifest (a config without a size)"}
	case c.Data != nil && int64(len(c.Data)) != c.Size:
		return v1.Descriptor{}, &mismatchError{what: "image config embedded in the manifest", how: "size"}
	}
	return c, nil
}

// boundedStrings is a JSON string list refused, before it is decoded, when
// its JSON is longer than maxCommandBytes. Like []string, null makes it nil.
type boundedStrings []string

// UnmarshalJSON implements json.Unmarshaler.
func (s *boundedStrings) UnmarshalJSON(b []byte) error {
	if len(b) > maxCommandBytes {
		return &tooLargeError{what: "ENTRYPOINT, CMD, USER or WORKDIR in the image config", limit: maxCommandBytes}
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = v
	return nil
}

// boundedString is a JSON string refused, before it is decoded, when its
// JSON is longer than maxCommandBytes. Like string, null leaves it as it is.
type boundedString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *boundedString) UnmarshalJSON(b []byte) error {
	if len(b) > maxCommandBytes {
		return &tooLargeError{what: "ENTRYPOINT, CMD, USER or WORKDIR in the image config", limit: maxCommandBytes}
	}
	if string(b) == "null" {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = boundedString(v)
	return nil
}

// parseConfig reads ENTRYPOINT, CMD, USER and WORKDIR from an image config
// (field names and meaning as go-containerregistry's v1.ConfigFile reads
// them; the rest of the config is skipped, not decoded).
func parseConfig(raw []byte) (Result, error) {
	if len(raw) > maxConfigBytes {
		return Result{}, &tooLargeError{what: "image config", limit: maxConfigBytes}
	}
	var doc struct {
		Config struct {
			Entrypoint boundedStrings `json:"Entrypoint"`
			Cmd        boundedStrings `json:"Cmd"`
			User       boundedString  `json:"User"`
			WorkingDir boundedString  `json:"WorkingDir"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		if tl, ok := asTooLarge(err); ok {
			return Result{}, tl
		}
		return Result{}, &invalidDocumentError{what: "image config", err: err}
	}
	c := doc.Config
	return Result{Entrypoint: c.Entrypoint, Cmd: c.Cmd, User: string(c.User), WorkingDir: string(c.WorkingDir)}, nil
}

// parseSchema1 reads the config of a Docker schema 1 manifest: the JSON in
// its first history entry's v1Compatibility, the top layer's config.
func parseSchema1(raw []byte) (Result, error) {
	if len(raw) > maxManifestBytes {
		return Result{}, &tooLargeError{what: "image manifest", limit: maxManifestBytes}
	}
	var doc struct {
		History []struct {
			V1Compatibility string `json:"v1Compatibility"`
		} `json:"history"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Result{}, &invalidDocumentError{what: "schema 1 image manifest", err: err}
	}
	if len(doc.History) == 0 {
		return Result{}, &invalidDocumentError{what: "schema 1 image manifest (no history)"}
	}
	return parseConfig([]byte(doc.History[0].V1Compatibility))
}

// resultSize is about how many bytes r holds, for the cache's budget.
func resultSize(r Result) int {
	n := 128 + len(r.User) + len(r.WorkingDir) + len(r.Digest)
	for _, s := range r.Entrypoint {
		n += 16 + len(s)
	}
	for _, s := range r.Cmd {
		n += 16 + len(s)
	}
	return n
}

// describeLimit writes a byte count as people read limits.
func describeLimit(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

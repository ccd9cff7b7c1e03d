// Package release says which release of latchkey this tree builds and where
// its images are published: the one place the version is written in Go.
// The chart's appVersion (charts/latchkey/Chart.yaml), which is the default
// tag of every image the chart runs, must equal Version (test/chart:
// TestAppVersionIsTheRelease); `make images VERSION=<release>` refuses any
// other release version (hack/images), so the tag the chart pulls is the tag
// a release build writes.
package release

// Version is the release this tree is, and the tag of its images.
const Version = "v0.1.0"

// Registry is where latchkey's images are published, one repository per
// component: latchkey-controller, latchkey-webhook, latchkey-resolver and
// latchkey-env.
const Registry = "ghcr.io/latchkey-dev"

// Image is the published reference of component's image for this release.
func Image(component string) string { return Registry + "/" + component + ":" + Version }

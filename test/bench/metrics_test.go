package bench

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metricSet is a parsed /metrics page.
type metricSet []sample

// parseMetrics reads the Prometheus text exposition format: comments are
// skipped, label values are unquoted. Lines it cannot read are skipped.
func parseMetrics(text []byte) metricSet {
	var out metricSet
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s, ok := parseSample(line)
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func parseSample(line string) (sample, bool) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, false
	}
	s.name = line[:i]
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, false
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			i = 0
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[i])
					}
					continue
				}
				val.WriteByte(rest[i])
			}
			if i == len(rest) {
				return s, false
			}
			s.labels[key] = val.String()
			rest = rest[i+1:]
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// sum adds the samples of a metric whose labels match every pair of match.
func (m metricSet) sum(name string, match map[string]string) float64 {
	var n float64
	for _, s := range m {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			n += s.value
		}
	}
	return n
}

// writeVerbs are the apiserver_request_total verbs that change state.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "DELETECOLLECTION": true, "APPLY": true}

// apiWrites are the API server's completed write requests per resource,
// from its apiserver_request_total counter (every client's writes: the
// benchmark takes its differences over windows in which it writes nothing
// itself).
type apiWrites map[string]float64

// outputWrites are the writes the target counts: the controller's outputs
// and the AzureKeyVaultSecrets (status included).
func (w apiWrites) outputWrites() float64 {
	return w["secrets"] + w["configmaps"] + w["azurekeyvaultsecrets"]
}

func (w apiWrites) minus(o apiWrites) apiWrites {
	d := apiWrites{}
	for k, v := range w {
		d[k] = v - o[k]
	}
	return d
}

// apiWrites scrapes the API server's /metrics as the admin.
func (e *benchEnv) apiWrites(b *testing.B) apiWrites {
	b.Helper()
	raw, err := e.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("API server metrics: %v", err)
	}
	w := apiWrites{"secrets": 0, "configmaps": 0, "azurekeyvaultsecrets": 0, "events": 0}
	for _, s := range parseMetrics(raw) {
		if s.name != "apiserver_request_total" || !writeVerbs[s.labels["verb"]] {
			continue
		}
		if _, counted := w[s.labels["resource"]]; counted {
			w[s.labels["resource"]] += s.value
		}
	}
	return w
}

// etcdUpdates is how many updates of a resource the API server made in
// etcd: a patch that changes nothing is answered without one.
func (e *benchEnv) etcdUpdates(b *testing.B, resource string) float64 {
	b.Helper()
	raw, err := e.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("API server metrics: %v", err)
	}
	return parseMetrics(raw).sum("etcd_request_duration_seconds_count", map[string]string{"operation": "update", "resource": resource})
}

package metricstest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// registryOf builds, from the fixture itself, a registry exposing a
// component's metrics as akv2k8s did, with one series per value set.
func registryOf(t *testing.T, ms []Metric) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, m := range ms {
		if len(m.Labels) == 0 {
			reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: m.Name, Help: m.Help}))
			continue
		}
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Name, Help: m.Help}, m.Labels)
		for _, s := range m.Series {
			v.With(s).Inc()
		}
		reg.MustRegister(v)
	}
	return reg
}

// TestCompare: a registry built as akv2k8s's passes; each way of departing
// from it is found.
func TestCompare(t *testing.T) {
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"controller", "webhook", "resolver"} {
		if len(f.Components[c]) == 0 {
			t.Fatalf("the fixture lists no metric for %s", c)
		}
	}
	controller := f.Components["controller"]
	if p := Compare(t, registryOf(t, controller), "controller"); len(p) > 0 {
		t.Errorf("akv2k8s's own shape: %v", p)
	}

	tests := []struct {
		name  string
		reg   func() *prometheus.Registry
		wants string
	}{
		{"a metric missing", func() *prometheus.Registry { return registryOf(t, controller[:1]) }, "akv2k8s_syncs_failed_total: not exposed"},
		{"its labels lost", func() *prometheus.Registry {
			reg := registryOf(t, controller[1:])
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: controller[0].Name, Help: controller[0].Help})
			reg.MustRegister(c)
			return reg
		}, "series with labels [], akv2k8s's are [object operation]"},
		{"another help", func() *prometheus.Registry {
			ms := append([]Metric{}, controller...)
			ms[0].Help = "Syncs (akv2k8s name)."
			return registryOf(t, ms)
		}, `help "Syncs (akv2k8s name).", akv2k8s's is "The total number of syncs"`},
		{"a label value akv2k8s never used", func() *prometheus.Registry {
			ms := append([]Metric{}, controller...)
			ms[0].Series = append(ms[0].Series, map[string]string{"operation": "refresh", "object": "AzureKeyVaultSecret"})
			return registryOf(t, ms)
		}, `series {object="AzureKeyVaultSecret",operation="refresh"}, which akv2k8s never counted`},
		{"a metric removed before 1.8.4", func() *prometheus.Registry {
			reg := registryOf(t, controller)
			reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "akv2k8s_auth_validations_total", Help: "x"}))
			return reg
		}, "akv2k8s_auth_validations_total: exposed, but removed from akv2k8s before 1.8.4"},
		{"another component's metric", func() *prometheus.Registry {
			return registryOf(t, append(append([]Metric{}, controller...), f.Components["webhook"][0]))
		}, "akv2k8s_pod_inspections_total: exposed, but not one of akv2k8s's controller metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compare(t, tt.reg(), "controller")
			if !strings.Contains(strings.Join(p, "\n"), tt.wants) {
				t.Errorf("problems %q, want one saying %q", p, tt.wants)
			}
		})
	}
}

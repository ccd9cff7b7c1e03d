package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// akv2k8sObjectLabels selects as akv2k8s's controller did with OBJECT_LABELS
// (cmd/azure-keyvault-controller: labels.ConvertSelectorToLabelsMap, merged
// into the informer's list options): an object matches when it carries
// every key=value of the list.
func akv2k8sObjectLabels(t *testing.T, s string) labels.Selector {
	t.Helper()
	set, err := labels.ConvertSelectorToLabelsMap(s)
	if err != nil {
		t.Fatalf("akv2k8s refuses OBJECT_LABELS %q: %v", s, err)
	}
	return labels.SelectorFromSet(set)
}

// TestObjectLabels: akv2k8s's OBJECT_LABELS is the controller's selector
// when --selector is not given, and selects exactly the objects akv2k8s's
// controller selected; with both set they must agree.
func TestObjectLabels(t *testing.T) {
	objects := []labels.Set{
		{},
		{"someSecretLabel": "someSecretValue"}, // akv2k8s's label-filtered syncing tutorial
		{"someSecretLabel": "someSecretValue", "team": "a"},
		{"someSecretLabel": "other"},
		{"notThatSecretLabel": "notThatSecretValue"},
		{"shard": "1", "team": "a"},
		{"shard": "1"},
		{"empty": ""},
	}
	for _, env := range []string{
		"someSecretLabel=someSecretValue",
		"shard=1,team=a",
		" shard = 1 , team = a ",
		"empty=",
	} {
		c, err := DefaultConfig().withEnv(func(k string) string {
			if k == EnvObjectLabels {
				return env
			}
			return ""
		})
		if err != nil {
			t.Fatalf("OBJECT_LABELS %q: %v", env, err)
		}
		if err := c.Manager.Validate(); err != nil {
			t.Fatalf("OBJECT_LABELS %q: %v", env, err)
		}
		ours, err := labels.Parse(c.Manager.Selector)
		if err != nil {
			t.Fatalf("selector %q: %v", c.Manager.Selector, err)
		}
		want := akv2k8sObjectLabels(t, env)
		for _, o := range objects {
			if got, w := ours.Matches(o), want.Matches(o); got != w {
				t.Errorf("OBJECT_LABELS %q, labels %v: latchkey selects %v, akv2k8s %v", env, o, got, w)
			}
		}
	}
}

func TestObjectLabelsAndSelector(t *testing.T) {
	getenv := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvObjectLabels {
				return v
			}
			return ""
		}
	}
	withSelector := func(s string) Config {
		c := DefaultConfig()
		c.Manager.Selector = s
		return c
	}
	cases := []struct {
		name, selector, env, want, err string
	}{
		{name: "neither", want: ""},
		{name: "flag only", selector: "a=b", want: "a=b"},
		{name: "variable only", env: "a=b", want: "a=b"},
		{name: "both, equal", selector: "a=b", env: "a=b", want: "a=b"},
		{name: "both, different", selector: "a=b", env: "a=c", err: `--selector "a=b" and OBJECT_LABELS "a=c" differ: set one`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := withSelector(tc.selector).withEnv(getenv(tc.env))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Manager.Selector != tc.want {
				t.Errorf("selector %q, want %q", c.Manager.Selector, tc.want)
			}
		})
	}
	// An OBJECT_LABELS that is no selector fails validation, naming it.
	t.Setenv(EnvObjectLabels, "a=b=c")
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "selector") {
		t.Errorf("Validate with OBJECT_LABELS a=b=c: %v", err)
	}
}

package chart

import (
	"flag"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// binders registers each component's flags, as its binary does.
var binders = map[string]func(*flag.FlagSet){
	"controller": func(fs *flag.FlagSet) { c := controller.DefaultConfig(); c.BindFlags(fs) },
	"webhook":    func(fs *flag.FlagSet) { c := webhook.DefaultConfig(); c.BindFlags(fs) },
	"resolver":   func(fs *flag.FlagSet) { c := resolver.DefaultConfig(); c.BindFlags(fs) },
}

// TestArgsParse: every argument the chart gives a component is a flag its
// binary defines, with a value of the flag's type. A renamed flag would
// otherwise surface only as a crash-looping pod. TestMatrix runs the same
// check over every documented combination of values.
func TestArgsParse(t *testing.T) {
	objs := render(t)
	for component := range binders {
		if objs["Deployment/latchkey-"+component] == nil {
			t.Errorf("no Deployment rendered for the %s", component)
		}
	}
	checkArgsParse(t, objs)
}

// checkArgsParse parses the args of each rendered component's container
// with that component's flag set.
func checkArgsParse(t *testing.T, objs map[string]*unstructured.Unstructured) {
	t.Helper()
	for component, bind := range binders {
		if objs["Deployment/latchkey-"+component] == nil {
			continue
		}
		raw := containerArgs(t, objs, component)
		if len(raw) == 0 {
			t.Errorf("%s: no args rendered", component)
		}
		fs := flag.NewFlagSet(component, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		bind(fs)
		if err := fs.Parse(raw); err != nil {
			t.Errorf("%s: the chart's args %q: %v", component, raw, err)
		}
		if fs.NArg() > 0 {
			t.Errorf("%s: arguments the binary ignores: %q", component, fs.Args())
		}
	}
}

// container returns the first container of a component's Deployment.
func container(t *testing.T, objs map[string]*unstructured.Unstructured, component string) map[string]any {
	t.Helper()
	d := objs["Deployment/latchkey-"+component]
	if d == nil {
		t.Fatalf("no Deployment rendered for the %s", component)
	}
	cs, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil || len(cs) == 0 {
		t.Fatalf("%s: no containers: %v", component, err)
	}
	return cs[0].(map[string]any)
}

func containerArgs(t *testing.T, objs map[string]*unstructured.Unstructured, component string) []string {
	t.Helper()
	raw, _, _ := unstructured.NestedStringSlice(container(t, objs, component), "args")
	return raw
}

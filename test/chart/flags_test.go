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

// TestArgsParse: every argument the chart gives a component is a flag its
// binary defines, with a value of the flag's type. A renamed flag would
// otherwise surface only as a crash-looping pod.
func TestArgsParse(t *testing.T) {
	binders := map[string]func(*flag.FlagSet){
		"controller": func(fs *flag.FlagSet) { c := controller.DefaultConfig(); c.BindFlags(fs) },
		"webhook":    func(fs *flag.FlagSet) { c := webhook.DefaultConfig(); c.BindFlags(fs) },
		"resolver":   func(fs *flag.FlagSet) { c := resolver.DefaultConfig(); c.BindFlags(fs) },
	}
	objs := render(t)
	for component, bind := range binders {
		d := objs["Deployment/latchkey-"+component]
		if d == nil {
			t.Errorf("no Deployment rendered for the %s", component)
			continue
		}
		args, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		if err != nil || len(args) == 0 {
			t.Fatalf("%s: no containers: %v", component, err)
		}
		raw, _, _ := unstructured.NestedStringSlice(args[0].(map[string]any), "args")
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

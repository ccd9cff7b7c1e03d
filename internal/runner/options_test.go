package runner

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// --kube-api-qps is parsed the same way by every server: a number, all of
// it (a trailing "x" is an error, not ignored), stored as float32.
func TestAPIClientOptionsParse(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    float32
		wantErr bool
	}{
		{"12.5", 12.5, false},
		{"1e3", 1000, false},
		{"300x", 0, true},
		{"", 0, true},
	} {
		o := APIClientOptions{QPS: 7, Burst: 9}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.BindFlags(fs)
		err := fs.Parse([]string{"--kube-api-qps=" + tc.arg})
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v, want error %v", tc.arg, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			if o.QPS != 7 {
				t.Errorf("%q: a refused value changed QPS to %v", tc.arg, o.QPS)
			}
			continue
		}
		if o.QPS != tc.want {
			t.Errorf("%q: QPS %v, want %v", tc.arg, o.QPS, tc.want)
		}
	}
}

// The help text states the default, which a Func flag does not print.
func TestAPIClientOptionsHelpStatesDefault(t *testing.T) {
	o := APIClientOptions{QPS: 300, Burst: 1000}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.BindFlags(fs)
	if got := fs.Lookup("kube-api-qps").Usage; got != "requests per second to the API server (default 300)" {
		t.Errorf("usage %q", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"qps zero", APIClientOptions{QPS: 0, Burst: 1}.Validate(), "kube-api-qps and kube-api-burst must be positive"},
		{"burst zero", APIClientOptions{QPS: 1, Burst: 0}.Validate(), "kube-api-qps and kube-api-burst must be positive"},
		{"tenancy poll", TenancyOptions{TenancyPoll: 0}.Validate(), "poll interval must be positive"},
		{"auth mode", KeyVaultOptions{AuthMode: "magic"}.Validate(), "unknown authentication mode"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if err := (APIClientOptions{QPS: 0.5, Burst: 1}).Validate(); err != nil {
		t.Errorf("valid bounds refused: %v", err)
	}
	if err := (TenancyOptions{TenancyPoll: time.Second}).Validate(); err != nil {
		t.Errorf("valid poll refused: %v", err)
	}
}

package rollout

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConsumed(t *testing.T) {
	sources := []Source{
		{Name: "db-password"},                                     // injector only
		{Name: "api-key", Secret: "api"},                          // a Secret output
		{Name: "ca", ConfigMap: "ca-bundle"},                      // a ConfigMap output
		{Name: "tls-key", Secret: "tls"},                          // two objects merged into one Secret
		{Name: "tls-crt", Secret: "tls", ConfigMap: "tls-crt-cm"}, // and one with both outputs
		{Name: "file-src"},
	}
	container := func(c corev1.Container) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	volume := func(v corev1.VolumeSource) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: v}}}}
	}
	tests := []struct {
		name string
		tmpl corev1.PodTemplateSpec
		want []string
	}{
		{"nothing", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "plain"}}}), nil},
		{"env placeholder", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "db-password@azurekeyvault"}}}), []string{"db-password"}},
		{"env placeholder with query", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "tls-crt@azurekeyvault?tls.crt"}}}), []string{"tls-crt"}},
		{"placeholder of an unknown AzureKeyVaultSecret", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "nope@azurekeyvault"}}}), nil},
		{"an e-mail address is no placeholder", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "me@azurekeyvault.example"}}}), nil},
		{"init container placeholder", corev1.PodTemplateSpec{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "A", Value: "db-password@azurekeyvault"}}}}}}, []string{"db-password"}},
		{"secretKeyRef", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "k"}}}}}), []string{"api-key"}},
		{"configMapKeyRef", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ca-bundle"}, Key: "k"}}}}}), []string{"ca"}},
		{"secretKeyRef of a foreign Secret", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "k"}}}}}), nil},
		{"a Secret's name is not an AzureKeyVaultSecret's", container(corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-password"}, Key: "k"}}}}}), nil},
		{"envFrom Secret shared by two", container(corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}}}}), []string{"tls-crt", "tls-key"}},
		{"envFrom ConfigMap", container(corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "tls-crt-cm"}}}}}), []string{"tls-crt"}},
		{"secret volume", volume(corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api"}}), []string{"api-key"}},
		{"configMap volume", volume(corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ca-bundle"}}}), []string{"ca"}},
		{"projected volume", volume(corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "api"}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ca-bundle"}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}), []string{"api-key", "ca"}},
		{"file annotation", corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"latchkey.dev/file.key.pem": "file-src?tls.key"}}}, []string{"file-src"}},
		{"file annotation in placeholder form", corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"latchkey.dev/file.key.pem": "file-src@azurekeyvault"}}}, []string{"file-src"}},
		{"a declaration the webhook refuses declares nothing", corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			"latchkey.dev/file.key.pem": "file-src", "latchkey.dev/files-typo": "x"}}}, nil},
		{"each once, sorted", corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Env: []corev1.EnvVar{{Name: "A", Value: "db-password@azurekeyvault"}, {Name: "B", Value: "api-key@azurekeyvault"}}},
				{Env: []corev1.EnvVar{{Name: "A", Value: "db-password@azurekeyvault?x"}}},
			},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api"}}}},
		}}, []string{"api-key", "db-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Consumed(&tt.tmpl, sources); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Consumed = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionsRoundTrip(t *testing.T) {
	v := Versions{"b": "2", "a": "1"}
	if s := v.String(); s != "a=1,b=2" {
		t.Fatalf("String = %q", s)
	}
	if got := ParseVersions(v.String()); !reflect.DeepEqual(got, v) {
		t.Fatalf("ParseVersions = %v", got)
	}
	if got := ParseVersions("a=1,,=x,b=,c"); !reflect.DeepEqual(got, Versions{"a": "1"}) {
		t.Fatalf("malformed entries: %v", got)
	}
	if d := v.Digest(); len(d) != 16 || d != (Versions{"a": "1", "b": "2"}).Digest() || d == (Versions{"a": "1", "b": "3"}).Digest() {
		t.Fatalf("Digest = %q: want 16 hex digits that depend on the versions only", d)
	}
}

func TestStateOf(t *testing.T) {
	at := time.Date(2026, 12, 6, 17, 0, 0, 5e8, time.UTC)
	st := StateOf(map[string]string{BaselineAnnotation: "a=1", RolledAtAnnotation: at.Format(time.RFC3339Nano)})
	if !reflect.DeepEqual(st.Baseline, Versions{"a": "1"}) || !st.RolledAt.Equal(at) {
		t.Fatalf("StateOf = %+v", st)
	}
	if st := StateOf(map[string]string{OptInAnnotation: "true"}); st.Baseline != nil || !st.RolledAt.IsZero() {
		t.Fatalf("no state: %+v", st)
	}
	if st := StateOf(map[string]string{BaselineAnnotation: ""}); st.Baseline == nil {
		t.Fatal("an empty recorded baseline is a baseline")
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	const window = time.Minute
	at := t0.Add
	tests := []struct {
		name         string
		st           State
		current      Versions
		pendingSince time.Time
		now          time.Time
		want         Decision
	}{
		{"opted in with nothing consumed", State{}, Versions{}, time.Time{}, t0, Decision{}},
		{"opting in records the baseline, rolls nothing", State{}, Versions{"a": "1"}, time.Time{}, t0,
			Decision{Write: true, Baseline: Versions{"a": "1"}}},
		{"unchanged never writes", State{Baseline: Versions{"a": "1"}}, Versions{"a": "1"}, time.Time{}, t0, Decision{}},
		{"a change first seen waits a window", State{Baseline: Versions{"a": "1"}}, Versions{"a": "2"}, time.Time{}, t0,
			Decision{Changed: []string{"a"}, Wait: window}},
		{"still within the window", State{Baseline: Versions{"a": "1"}}, Versions{"a": "2"}, t0, at(40 * time.Second),
			Decision{Changed: []string{"a"}, Wait: 20 * time.Second}},
		{"a second change within the window joins the first", State{Baseline: Versions{"a": "1", "b": "1"}}, Versions{"a": "2", "b": "2"}, t0, at(59 * time.Second),
			Decision{Changed: []string{"a", "b"}, Wait: time.Second}},
		{"a window after the first change: roll once for both", State{Baseline: Versions{"a": "1", "b": "1"}}, Versions{"a": "3", "b": "2"}, t0, at(window),
			Decision{Write: true, Roll: true, Baseline: Versions{"a": "3", "b": "2"}, Changed: []string{"a", "b"}}},
		{"rolled recently: at most once a window, across restarts", State{Baseline: Versions{"a": "1"}, RolledAt: at(30 * time.Second)}, Versions{"a": "2"}, t0, at(window),
			Decision{Changed: []string{"a"}, Wait: 30 * time.Second}},
		{"restart: pending time lost, the window counts from now", State{Baseline: Versions{"a": "1"}, RolledAt: at(-time.Hour)}, Versions{"a": "2"}, time.Time{}, at(time.Hour),
			Decision{Changed: []string{"a"}, Wait: window}},
		{"a pending time in the future counts from now", State{Baseline: Versions{"a": "1"}}, Versions{"a": "2"}, at(time.Hour), t0,
			Decision{Changed: []string{"a"}, Wait: window}},
		{"newly consumed: baseline only", State{Baseline: Versions{"a": "1"}}, Versions{"a": "1", "b": "7"}, time.Time{}, t0,
			Decision{Write: true, Baseline: Versions{"a": "1", "b": "7"}}},
		{"no longer consumed: baseline only", State{Baseline: Versions{"a": "1", "b": "7"}}, Versions{"a": "1"}, time.Time{}, t0,
			Decision{Write: true, Baseline: Versions{"a": "1"}}},
		{"rolls with newly consumed recorded too", State{Baseline: Versions{"a": "1"}}, Versions{"a": "2", "b": "7"}, t0, at(window),
			Decision{Write: true, Roll: true, Baseline: Versions{"a": "2", "b": "7"}, Changed: []string{"a"}}},
		{"changed back to the baseline: nothing pending", State{Baseline: Versions{"a": "1"}}, Versions{"a": "1"}, t0, at(window), Decision{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.st, tt.current, tt.pendingSince, tt.now, window); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide =\n %+v, want\n %+v", got, tt.want)
			}
		})
	}
}

// TestDecideFakeClock drives Decide as the controller does, with a fake
// clock: versions change at the given times and the workload is looked at
// every second. Rollouts counts the rolls.
func TestDecideFakeClock(t *testing.T) {
	const window = time.Minute
	t0 := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		changes map[time.Duration]string // second → new version of "a"
		rolls   []time.Duration
	}{
		{"no change", map[time.Duration]string{}, nil},
		{"one change", map[time.Duration]string{10 * time.Second: "2"}, []time.Duration{70 * time.Second}},
		{"two within a window", map[time.Duration]string{10 * time.Second: "2", 30 * time.Second: "3"}, []time.Duration{70 * time.Second}},
		{"two windows apart", map[time.Duration]string{10 * time.Second: "2", 200 * time.Second: "3"}, []time.Duration{70 * time.Second, 260 * time.Second}},
		{"right after a rollout", map[time.Duration]string{10 * time.Second: "2", 75 * time.Second: "3"}, []time.Duration{70 * time.Second, 135 * time.Second}},
		{"flapping back before the window ends", map[time.Duration]string{10 * time.Second: "2", 20 * time.Second: "1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := State{Baseline: Versions{"a": "1"}}
			version := "1"
			var pending time.Time
			var rolls []time.Duration
			for s := time.Duration(0); s <= 300*time.Second; s += time.Second {
				now := t0.Add(s)
				if v, ok := tt.changes[s]; ok {
					version = v
				}
				d := Decide(st, Versions{"a": version}, pending, now, window)
				switch {
				case d.Roll:
					rolls = append(rolls, s)
					st, pending = State{Baseline: d.Baseline, RolledAt: now}, time.Time{}
				case d.Write:
					st.Baseline = d.Baseline
				case d.Wait > 0 && pending.IsZero():
					pending = now
				case d.Wait == 0:
					pending = time.Time{}
				}
			}
			if !reflect.DeepEqual(rolls, tt.rolls) {
				t.Errorf("rolled at %v, want %v", rolls, tt.rolls)
			}
		})
	}
}

package imageconfig_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-dev/latchkey/internal/imageconfig"
)

// The webhook makes one Client at start and, for each container without
// both command and args, looks its image up within half its own timeout.
func ExampleClient_Lookup() {
	resolver, err := imageconfig.New(imageconfig.Options{
		// AzureCredential: the webhook's identity, for ACR attached to AKS.
		InsecureRegistries: []string{"localhost:5000"},
	})
	if err != nil {
		panic(err)
	}

	// What the webhook read from the pod, its ServiceAccount and their
	// pull secrets.
	nodeSelector := map[string]string{"kubernetes.io/arch": "arm64"}
	secretData := map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"localhost:5000":{"auth":"dXNlcjpwYXNz"}}}`)}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := resolver.Lookup(ctx, imageconfig.Request{
		Image:       "localhost:5000/team/app:v1",
		Platform:    imageconfig.PlatformFromNodeSelector(nodeSelector, imageconfig.DefaultPlatform()),
		PullSecrets: []imageconfig.PullSecret{imageconfig.NewPullSecret("regcred", "kubernetes.io/dockerconfigjson", secretData)},
	})
	switch {
	case errors.Is(err, imageconfig.ErrTimeout):
		// Deny the pod: err's message names the image and tells the user
		// to set command.
	case err != nil:
		// The same for every other class.
	default:
		fmt.Println(append(res.Entrypoint, res.Cmd...))
	}
}

// Command vault is the HashiCorp Vault v1.1.2 server and CLI, built from the Go
// module proxy for tests (its dev server, KV v2 and Kubernetes auth).
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() { os.Exit(command.Run(os.Args[1:])) }

package localstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// SamplesDir holds the samples a user applies after filling in their org.
var SamplesDir = filepath.Join(testenv.RepoRoot(), "config", "samples")

// ApplySamples creates the objects of config/samples/ in namespace, filled in
// the way a user would for this stack: the org URL, the API token, and the
// hook URL on the local ingress. It returns the sample TokenHook.
func (s *Stack) ApplySamples(ctx context.Context, namespace string) (*v1.TokenHook, error) {
	var kust struct {
		Resources []string `json:"resources"`
	}
	raw, err := os.ReadFile(filepath.Join(SamplesDir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, &kust); err != nil {
		return nil, fmt.Errorf("config/samples/kustomization.yaml: %w", err)
	}
	decoder := testenv.Codecs().UniversalDeserializer()
	var th *v1.TokenHook
	for _, file := range kust.Resources {
		data, err := os.ReadFile(filepath.Join(SamplesDir, file))
		if err != nil {
			return nil, err
		}
		obj, _, err := decoder.Decode(data, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("config/samples/%s: %w", file, err)
		}
		switch o := obj.(type) {
		case *corev1.Secret:
			if _, ok := o.StringData["apiToken"]; ok {
				o.StringData["apiToken"] = s.APIToken
			}
		case *v1.TokenHook:
			o.Spec.Okta.OrgURL = s.OrgURL
			o.Spec.HookServer.ExternalURL = s.HookURL(namespace, o.Name)
			th = o
		}
		cobj, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("config/samples/%s: %T is not an object", file, obj)
		}
		cobj.SetNamespace(namespace)
		if err := s.Client.Create(ctx, cobj); err != nil {
			return nil, fmt.Errorf("apply config/samples/%s: %w", file, err)
		}
	}
	if th == nil {
		return nil, fmt.Errorf("config/samples has no TokenHook")
	}
	return th, nil
}

package localstack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// SamplesDir holds the samples a user applies after filling in their org.
var SamplesDir = filepath.Join(testenv.RepoRoot(), "config", "samples")

// The sample TokenHooks: kustomization.yaml lists the header one; the OAuth
// one says to apply it instead.
const (
	headerSample = "tokenhook_v1alpha1_tokenhook.yaml"
	oauthSample  = "tokenhook_oauth.yaml"
)

// ApplySamples creates the objects of config/samples/ in namespace, filled in
// the way a user would for this stack: the org URL, the API token, and the
// hook URL on the local ingress. It returns the sample TokenHook.
func (s *Stack) ApplySamples(ctx context.Context, namespace string) (*v1.TokenHook, error) {
	return s.applySamples(ctx, namespace, nil)
}

// ApplyOAuthSamples is ApplySamples with config/samples/tokenhook_oauth.yaml
// in place of the header sample, as its comment says to apply it: its
// hookAuth.oauth gets the caller's client ID (and scope and audience, where
// the caller names them), and the Secret its clientSecretPost.secretRef
// names gets the caller's client secret.
func (s *Stack) ApplyOAuthSamples(ctx context.Context, namespace string, caller OAuthCaller) (*v1.TokenHook, error) {
	if caller.ClientID == "" || caller.ClientSecret == "" {
		return nil, fmt.Errorf("OAuth samples: the caller needs a client ID and a client secret")
	}
	return s.applySamples(ctx, namespace, &caller)
}

func (s *Stack) applySamples(ctx context.Context, namespace string, caller *OAuthCaller) (*v1.TokenHook, error) {
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
	files := kust.Resources
	if caller != nil {
		i := slices.Index(files, headerSample)
		if i < 0 {
			return nil, fmt.Errorf("config/samples/kustomization.yaml does not list %s, which %s replaces", headerSample, oauthSample)
		}
		files = slices.Clone(files)
		files[i] = oauthSample
	}
	objs, err := decodeSamples(files)
	if err != nil {
		return nil, err
	}
	var th *v1.TokenHook
	for _, sm := range objs {
		if o, ok := sm.obj.(*v1.TokenHook); ok {
			o.Spec.Okta.OrgURL = s.OrgURL
			o.Spec.HookServer.ExternalURL = s.HookURL(namespace, o.Name)
			th = o
		}
	}
	if th == nil {
		return nil, fmt.Errorf("config/samples has no TokenHook")
	}
	if caller != nil {
		if err := fillOAuth(th, objs, *caller); err != nil {
			return nil, err
		}
	}
	for _, sm := range objs {
		if o, ok := sm.obj.(*corev1.Secret); ok {
			if _, ok := o.StringData["apiToken"]; ok {
				o.StringData["apiToken"] = s.APIToken
			}
		}
		sm.obj.SetNamespace(namespace)
		if err := s.Client.Create(ctx, sm.obj); err != nil {
			return nil, fmt.Errorf("apply %s: %w", sm.from, err)
		}
	}
	return th, nil
}

// docSeparator splits a YAML stream into its documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// sample is one object of the samples, and where it is.
type sample struct {
	obj  client.Object
	from string // config/samples/<file>, document <n>
}

// decodeSamples decodes every document of the files, in order.
func decodeSamples(files []string) ([]sample, error) {
	decoder := testenv.Codecs().UniversalDeserializer()
	var objs []sample
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(SamplesDir, file))
		if err != nil {
			return nil, err
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			if len(bytes.TrimSpace(stripComments([]byte(doc)))) == 0 {
				continue
			}
			from := fmt.Sprintf("config/samples/%s, document %d", file, i+1)
			obj, _, err := decoder.Decode([]byte(doc), nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", from, err)
			}
			cobj, ok := obj.(client.Object)
			if !ok {
				return nil, fmt.Errorf("%s: %T is not an object", from, obj)
			}
			objs = append(objs, sample{obj: cobj, from: from})
		}
	}
	return objs, nil
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// fillOAuth fills the OAuth sample in with the caller, as its comment asks.
func fillOAuth(th *v1.TokenHook, objs []sample, caller OAuthCaller) error {
	o := th.Spec.HookAuth.OAuth
	if th.Spec.HookAuth.Type != v1.HookAuthOAuth || o == nil || o.ClientSecretPost == nil {
		return fmt.Errorf("config/samples/%s: the TokenHook has no spec.hookAuth.oauth.clientSecretPost", oauthSample)
	}
	o.ClientID = caller.ClientID
	if caller.Scope != "" {
		o.Scope = caller.Scope
	}
	if caller.Audience != "" {
		o.Audience = caller.Audience
	}
	ref := o.ClientSecretPost.SecretRef
	key := ref.Key
	if key == "" {
		key = "secret" // the API's default
	}
	for _, sm := range objs {
		if sec, ok := sm.obj.(*corev1.Secret); ok && sec.Name == ref.Name {
			if sec.StringData == nil {
				sec.StringData = map[string]string{}
			}
			sec.StringData[key] = caller.ClientSecret
			return nil
		}
	}
	return fmt.Errorf("config/samples/%s: no Secret %q, which spec.hookAuth.oauth.clientSecretPost.secretRef names", oauthSample, ref.Name)
}

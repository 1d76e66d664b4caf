// Package kubectlplugin is the kubectl tokenhook plugin (binary
// kubectl-tokenhook): "preview" asks a TokenHook's running hook server what it
// would answer Okta for a login, and "status" summarises a TokenHook on one
// screen.
//
// The commands follow kubectl's own: cli-runtime's ConfigFlags for the
// kubeconfig, context and namespace, and options with Complete, Validate and
// Run. Preview and Status are the commands' work as functions over an Env, so
// tests and the real-node test can call them: NewEnv is the real cluster,
// with PortForwardDialer for the way into the hook server pods.
package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// Env is the cluster the commands work on.
type Env struct {
	// Client reads TokenHooks, Deployments, Pods and Secrets.
	Client client.Reader
	// Dialer reaches the hook server pods.
	Dialer PodDialer
	// Now dates the conditions in status; nil means time.Now.
	Now func() time.Time
}

func (e *Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// scheme holds the types the commands read.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(v1.AddToScheme(s))
	return s
}()

// NewEnv is the cluster of config: a client (mapper may be nil) and the
// port-forward dialer.
func NewEnv(config *rest.Config, mapper meta.RESTMapper) (*Env, error) {
	c, err := client.New(config, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	d, err := NewPortForwardDialer(config)
	if err != nil {
		return nil, err
	}
	return &Env{Client: c, Dialer: d}, nil
}

// NewCmdTokenHook is the root command, kubectl tokenhook.
func NewCmdTokenHook(streams genericiooptions.IOStreams) *cobra.Command {
	flags := newConfigFlags(true)
	return newCmdTokenHook(streams, flags, func() (*Env, error) {
		config, err := flags.ToRESTConfig()
		if err != nil {
			return nil, err
		}
		mapper, err := flags.ToRESTMapper()
		if err != nil {
			return nil, err
		}
		return NewEnv(config, mapper)
	})
}

// newConfigFlags are kubectl's flags for the kubeconfig, context, namespace
// and the like, but for --token: that is preview's (which tokens to mint), so
// an API server bearer token comes from the kubeconfig.
func newConfigFlags(usePersistentConfig bool) *genericclioptions.ConfigFlags {
	flags := genericclioptions.NewConfigFlags(usePersistentConfig)
	flags.BearerToken = nil
	return flags
}

// common is what every command takes from the root: where and how to reach
// the cluster.
type common struct {
	flags  *genericclioptions.ConfigFlags
	newEnv func() (*Env, error)
}

func (c common) namespace() (string, error) {
	ns, _, err := c.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	return ns, nil
}

func newCmdTokenHook(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags, newEnv func() (*Env, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-tokenhook",
		Short: "Inspect TokenHooks and preview the claims their hook servers add",
		Long: `Inspect TokenHooks (tokenhook.io/v1alpha1) and preview the claims their running
hook servers add to the tokens Okta mints.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl tokenhook",
		},
		SilenceUsage: true,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	flags.AddFlags(cmd.PersistentFlags())
	c := common{flags: flags, newEnv: newEnv}
	cmd.AddCommand(newCmdPreview(streams, c), newCmdStatus(streams, c))
	return cmd
}

// PreviewOptions are kubectl tokenhook preview's.
type PreviewOptions struct {
	genericiooptions.IOStreams
	common

	Request PreviewRequest
	Token   string // --token: id, access or both
	Output  string // --output: text or json

	env *Env
}

func newCmdPreview(streams genericiooptions.IOStreams, c common) *cobra.Command {
	o := &PreviewOptions{IOStreams: streams, common: c, Token: "both", Output: "text"}
	cmd := &cobra.Command{
		Use:   "preview NAME --login LOGIN",
		Short: "Show the claims the running hook server adds to a login's tokens",
		Long: `Show the claims each token of a login would get, as computed by the TokenHook's
running hook server: a ready hook server pod is port-forwarded to, and sent a
synthetic token hook event (com.okta.oauth2.tokens.transform) for the login,
authenticated as the pods accept it, exactly as Okta calls it. Nothing is
changed, in the cluster or in Okta, and the hook server does not log the login.

With header hook auth (and while a TokenHook switches between header and OAuth
hook auth) the call carries the auth Secret's header secret. With OAuth hook
auth (spec.hookAuth.type OAuth, pods in --auth-mode=oauth), the plugin gets an
access token as Okta does: the client credentials grant at the TokenHook's
<issuer>/v1/token as spec.hookAuth.oauth.clientID, with the client secret of
clientSecretPost.secretRef and the scope; so this machine must reach that token
endpoint. It trusts the system's CAs and the CA the pods trust for Okta (the
auth Secret's okta-ca.crt). OAuth without clientSecretPost (private_key_jwt,
whose key only Okta holds) cannot be previewed. Neither the secret nor the
token is printed.

It needs get on the TokenHook, its Deployment and Secrets (the auth Secret,
with TLS the certificate Secret, and with OAuth the client secret's Secret),
list on pods, and create on pods/portforward.

With TLS, the hook server's certificate is verified for the Service's name
<name>-hookserver.<namespace>.svc (or --hook-server-name) against the ca.crt of
its certificate Secret, or that Secret's tls.crt when it has no ca.crt. A
certificate Secret whose certificate holds not the Service's name but the host
of spec.hookServer.externalURL (TLS passed through to the pods) is verified for
that host.`,
		Example: `  # The claims ada would get in her ID and access tokens
  kubectl tokenhook preview patients -n clinic --login ada@example.com

  # Only an access token is minted, and the answer as JSON
  kubectl tokenhook preview patients -n clinic --login ada@example.com --token access -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Request.Login, "login", "", "the Okta login to preview (required)")
	f.StringVar(&o.Token, "token", o.Token, "the tokens Okta mints in the previewed call: id, access or both")
	f.StringVarP(&o.Output, "output", "o", o.Output, "output format: text or json")
	f.StringVar(&o.Request.TLSServerName, "hook-server-name", "", "the name the hook server's certificate must hold (default <name>-hookserver.<namespace>.svc, or the external URL's host if the TLS Secret's certificate holds only that)")
	f.BoolVar(&o.Request.InsecureSkipTLSVerify, "insecure-skip-hook-tls-verify", false, "do not verify the hook server's certificate")
	_ = cmd.MarkFlagRequired("login") // only fails for a flag that does not exist
	return cmd
}

// Complete fills in the request from the arguments, the flags and the kubeconfig.
func (o *PreviewOptions) Complete(args []string) error {
	if len(args) != 1 {
		return errors.New("preview needs exactly one argument, the TokenHook's name: kubectl tokenhook preview NAME --login LOGIN")
	}
	o.Request.Name = args[0]
	var err error
	if o.Request.Namespace, err = o.namespace(); err != nil {
		return err
	}
	if o.Request.Tokens, err = parseTokens(o.Token); err != nil {
		return err
	}
	o.env, err = o.newEnv()
	return err
}

// Validate checks the flags.
func (o *PreviewOptions) Validate() error {
	switch {
	case o.Request.Login == "":
		return errors.New("--login is required: the Okta login to preview")
	case o.Output != "text" && o.Output != "json":
		return fmt.Errorf("--output %q: want text or json", o.Output)
	}
	return nil
}

// Run previews and prints the answer.
func (o *PreviewOptions) Run(ctx context.Context) error {
	res, err := Preview(ctx, o.env, o.Request)
	if err != nil {
		return err
	}
	return WritePreview(o.Out, res, o.Output)
}

// StatusOptions are kubectl tokenhook status's.
type StatusOptions struct {
	genericiooptions.IOStreams
	common

	Name, Namespace string
	PrintFlags      *genericclioptions.PrintFlags

	env *Env
}

func newCmdStatus(streams genericiooptions.IOStreams, c common) *cobra.Command {
	o := &StatusOptions{IOStreams: streams, common: c}
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Summarise a TokenHook: verdict, conditions, Okta IDs, patients, hook server replicas",
		Long: `Summarise a TokenHook on one screen: an overall verdict, its conditions, its
Okta inline hook, policy and rule IDs, its patient list and its hook server's
replicas. With -o, print the TokenHook itself in that format instead (json,
yaml, jsonpath=..., and the other formats of kubectl get).`,
		Example: `  kubectl tokenhook status patients -n clinic
  kubectl tokenhook status patients -n clinic -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.PrintFlags = genericclioptions.NewPrintFlags("").WithTypeSetter(scheme)
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete takes the name and namespace.
func (o *StatusOptions) Complete(args []string) error {
	if len(args) != 1 {
		return errors.New("status needs exactly one argument, the TokenHook's name: kubectl tokenhook status NAME")
	}
	o.Name = args[0]
	var err error
	if o.Namespace, err = o.namespace(); err != nil {
		return err
	}
	o.env, err = o.newEnv()
	return err
}

// Validate checks the output format.
func (o *StatusOptions) Validate() error {
	if o.output() == "" {
		return nil
	}
	_, err := o.PrintFlags.ToPrinter()
	return err
}

func (o *StatusOptions) output() string {
	if o.PrintFlags.OutputFormat == nil {
		return ""
	}
	return *o.PrintFlags.OutputFormat
}

// Run prints the summary, or the TokenHook in the -o format.
func (o *StatusOptions) Run(ctx context.Context) error {
	r, err := Status(ctx, o.env, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if o.output() == "" {
		return WriteStatus(o.Out, r, o.env.now())
	}
	p, err := o.PrintFlags.ToPrinter()
	if err != nil {
		return err
	}
	return p.PrintObj(r.TokenHook, o.Out)
}

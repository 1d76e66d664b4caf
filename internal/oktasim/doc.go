// Package oktasim simulates an Okta org's management API closely enough that the real
// okta-sdk-golang/v2 client, unmodified, cannot tell it from Okta for the calls the operator
// makes. Tests, demos and benchmarks use it instead of an Okta org.
//
// What it models, per ../shared/okta/SPEC.md (sections 4 to 6 and 9):
//   - /api/v1/inlineHooks: list (with ?type=), create (200, ACTIVE), get, full PUT, activate,
//     deactivate, delete (INACTIVE only, 204). IDs are cal… (20 characters); names are unique;
//     type is immutable; authScheme.value and clientSecret are write-only and never answered;
//     at most Options.HookLimit hooks. Channels HTTP (authScheme) or OAUTH (authScheme null;
//     authType client_secret_post with clientId, clientSecret, tokenUrl, scope, or
//     private_key_jwt with clientId, hookKeyId naming an existing hook key, tokenUrl, scope),
//     and a PUT may move a hook from one channel type to the other.
//   - /api/v1/hook-keys: list, create (200; Okta generates an RSA key pair, id HKY…, keyId a
//     UUID, the public key under _embedded), get (?expand=publickey), rename by PUT, delete (204,
//     only keys no hook uses), GET /api/v1/hook-keys/public/{keyId}; names unique; isUsed a
//     string as the spec has it; at most Options.HookKeyLimit (50) keys.
//   - /api/v1/apps/{appId}/credentials/jwks (an app's ID is its client ID here): list (an array,
//     the schema), add (201, id pks…, ACTIVE unless asked INACTIVE), get, lifecycle activate and
//     deactivate (200), delete (204, INACTIVE keys only); kids unique, no key beside one without
//     a kid, RSA keys of 2048 bits or more, at most 50 keys, the only ACTIVE key of a
//     private_key_jwt app stays active; only ACTIVE keys verify client assertions. Scopes
//     okta.apps.read and okta.apps.manage. RSA signing keys only.
//   - /api/v1/authorizationServers/{id} with its policies and rules: list, get, create (201), full
//     PUT, delete, lifecycle (204, no body). Priorities stay contiguous from 1. Rule PUTs accept
//     null lifetimes (SDK v2 sends them) and apply Okta's defaults. Authorization servers carry
//     credentials.signing (kid, rotationMode AUTO, lastRotated, nextRotation), the kid their
//     JWKS serves.
//   - Validation as the management OpenAPI (dist/current/management-minimal.yaml) states it: a
//     rule's type is required (RESOURCE_ACCESS), access token lifetime 5 to 1440 minutes,
//     refresh window 10 to 2,628,000, grant types of the GrantType enum, status and type enums.
//   - _links only where they work: execute on ACTIVE hooks, delete on INACTIVE hooks no rule
//     uses; GET /api/v1/users/{id}/groups and /factors, which the hook
//     event links to.
//   - Okta error bodies and codes (E0000001 validation, E0000003 malformed body, E0000006,
//     E0000007 not found, E0000011 invalid token, E0000047 rate limit) with Content-Type
//     application/json;charset=UTF-8; X-Rate-Limit-* and X-Okta-Request-Id on every response; an
//     optional per-minute rate limit whose 429s carry Date and X-Rate-Limit-Reset.
//   - Authentication by "SSWS <token>", or by a Bearer token from POST /oauth2/v1/token
//     (client_credentials with a private_key_jwt assertion verified against a registered key),
//     which is the SDK's PrivateKey mode.
//   - A new org's seeds: authorization server "default" with "Default Policy" and "Default
//     Policy Rule".
//
// Where Okta's behaviour is unconfirmed the simulator takes the stricter reading, so the operator
// cannot come to depend on leniency: deleting an ACTIVE hook, or a hook a rule still uses, is 400
// E0000001; a hook PUT must resend authScheme.value or clientSecret; a duplicate hook name is 400
// E0000001; a rule's inline hook must exist and be a token hook; an OAUTH channel may not send a
// field of the other authType, nor a custom Authorization header (it carries the access token);
// deleting a hook key a hook uses is 400 E0000001 (the spec lists no 400 for that delete, only
// that such keys are not "eligible for deletion").
//
// For tests: Calls (a log of method, path, status, time), SetFaults (deterministic 5xx, 429,
// latency and dropped connections per endpoint), snapshots that include stored secrets (Hook,
// Rule, …), and direct edits that play an admin in the Okta console (AddHook, UpdateHook,
// RemoveHook, AddAuthServer, AddScope, AddPolicy, AddRule, UpdateRule, AddServiceApp, AddHookKey,
// HookKeys, HookKey, AddAppJWK, AppJWKs).
//
// Token minting by custom authorization servers (SPEC sections 1 to 3, 5.3), for the end user
// flows the operator's hooks serve:
//   - Users (AddUser, AddGroup) and OIDC apps (AddClient: public or confidential, grant types,
//     redirect URIs, token_endpoint_auth_method, and for private_key_jwt the JWKS, which
//     SetClientKeys replaces).
//   - POST /oauth2/{id}/v1/token with grant_type password, client_credentials (confidential
//     clients, custom scopes only), authorization_code (from GET /oauth2/{id}/v1/authorize
//     with a sessionToken from POST /api/v1/authn, PKCE S256 required for public clients) or
//     refresh_token; client_secret_basic, client_secret_post, private_key_jwt (client_auth.go:
//     an RS256/384/512 client assertion, iss = sub = client, aud the endpoint, exp required and
//     at most an hour away, iat optional and not ahead, jti optional and used once; Okta's
//     descriptions for a bad kid, signature or audience) or none; Okta's OAuth error bodies.
//   - Refresh tokens (refresh.go): issued with offline_access when the app and the rule allow
//     the refresh_token grant; persistent; the rule's refreshTokenLifetimeMinutes and
//     refreshTokenWindowMinutes apply; a refresh re-evaluates the policy and runs the rule's
//     hook with data.context.protocol.OriginalGrant and data.refresh_token (and, the stricter
//     reading, no session); revoked or expired: invalid_grant.
//   - POST /oauth2/{id}/v1/introspect and /v1/revoke (client authentication as for /token),
//     GET /oauth2/{id}/v1/userinfo (Bearer access token, errors in WWW-Authenticate), GET and
//     POST /oauth2/{id}/v1/logout (id_token_hint, post_logout_redirect_uri of the app), all
//     listed in both discovery documents but userinfo, which Okta's OAuthMetadata has not and
//     only the OpenID one lists (oidc.go).
//   - Scopes: the OpenID Connect scopes and the custom scopes of the authorization server
//     (AddScope); a request naming any other gets invalid_scope, not a token.
//   - Policy evaluation: ACTIVE policies in priority order that include the client (or
//     ALL_CLIENTS), in each the first ACTIVE rule whose grant types, scopes (all requested
//     ones covered, * covers any) and people (users, groups, EVERYONE; ignored without an end
//     user) match; none: access_denied. The rule sets the access token lifetime.
//   - The rule's inline hook, if ACTIVE: Okta's com.okta.oauth2.tokens.transform event POSTed
//     with the channel's auth header and custom headers, Options.HookTimeout (3 s), no retry,
//     no redirects; its answer applied as Okta does (only a 200 counts; error: server_error;
//     one bad operation voids the whole patch; reserved claims refused). HookCalls logs each
//     call and its outcome.
//   - An OAUTH channel (hook_oauth.go): an access token first, by client_credentials at
//     tokenUrl with client_secret_post or a private_key_jwt assertion the simulator signs with
//     the hook key (RS256, kid its keyId, iss = sub = clientId, aud tokenUrl, jti, exp); reused
//     until 30 s before it expires (HookCall.TokenFetched, ForgetHookTokens); then the hook
//     with "Authorization: Bearer <token>". The token request counts against the hook
//     timeout; when it fails the hook call fails and the tokens are issued unpatched. A
//     tokenUrl in the org is served in process; a token request that would run the same hook
//     again (the hook secured by the authorization server whose rule calls it) waits out the
//     timeout, as Okta's would.
//   - RS256 ID and access tokens with Okta's claims, a key per authorization server served at
//     /oauth2/{id}/v1/keys, and the /.well-known/openid-configuration and
//     /.well-known/oauth-authorization-server documents, so OIDC libraries verify the tokens.
//
// Layout: model.go and org.go hold the org (authorization servers → policies → rules, and hooks
// with their secrets) behind one mutex with lookup methods; validate.go holds Okta's rules;
// api_*.go, hook_keys.go and wire.go are the HTTP API; sim.go is the request pipeline. Token minting sits
// beside them, reading the same org: users.go (users, groups, clients), mint.go (the token
// endpoint and policy evaluation), client_auth.go (private_key_jwt clients), mint_hook.go (the
// hook call and event), hook_oauth.go (OAUTH channels' access tokens), mint_patch.go (the
// commands), authorize.go (authorization code flow), jwks.go (keys and discovery). hook_wire.go
// holds the hook's event and response types, written from Okta's documentation and shared with
// nothing: the hook server's own types are checked against them by contract_hook_test.go.
package oktasim

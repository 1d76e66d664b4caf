package controllers

import "sigs.k8s.io/controller-runtime/pkg/cache"

// CacheOptions scopes the manager to the given namespaces (all when none):
// it then lists and watches TokenHooks and everything they use only there,
// so Roles in those namespaces are all the permission it needs.
func CacheOptions(namespaces []string) cache.Options {
	if len(namespaces) == 0 {
		return cache.Options{}
	}
	scoped := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		scoped[ns] = cache.Config{}
	}
	return cache.Options{DefaultNamespaces: scoped}
}

package main

import (
	"fmt"
	"os"
	"strings"
)

// modelHelp is the -model flag's text for the forms every command takes.
const modelHelp = `"default" for the built-in demo-world model, or hf:OWNER/NAME[@REV] for a CLIP ViT from the Hugging Face hub (fetched and converted to int8 on first use, then cached)`

// resolveModel turns a -model value into the path loadModel opens:
// "default" and file paths as given, and hf:OWNER/NAME[@REV] the int8
// conversion of that repo in the cache, fetched from the hub ($HF_ENDPOINT
// or huggingface.co) and converted on first use.
func resolveModel(spec string) (string, error) {
	ref, ok := strings.CutPrefix(spec, "hf:")
	if !ok || fileExists(spec) {
		return spec, nil
	}
	repo, rev, _ := strings.Cut(ref, "@")
	if rev == "" {
		rev = "main"
	}
	if err := checkRepoName(repo); err != nil {
		return "", fmt.Errorf("-model %s: %w", spec, err)
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	path := cachedModelPath(root, repo, rev, "int8", 0)
	if fileExists(path) {
		fmt.Fprintf(os.Stderr, "note: %s is the cached %s (delete it to fetch and convert again)\n", spec, path)
		return path, nil
	}
	hub := hubBase()
	fmt.Fprintf(os.Stderr, "note: %s is not in the cache: fetching it from %s and converting it to int8, once\n", spec, hub)
	return fetchModel(fetchSpec{Hub: hub, HubHint: "set $HF_ENDPOINT to a mirror", Repo: repo, Revision: rev, DType: "int8"})
}

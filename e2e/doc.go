// Package e2e holds the end-to-end tests of the browser app: they build
// the app with build.sh, serve it with internal/serve, and drive Debian's
// headless Chromium with chromedp through the whole flow (load a model,
// index real videos made with ffmpeg, search, reload), comparing what the
// browser computed with the native engine. They skip, saying why, when
// chromium, ffmpeg or the reference fixtures are missing.
//
//	go test ./e2e/                      # the flow, about a minute
//	CLIP4CLIP_MEASURE=1 go test -run Measure -v ./e2e/   # speed and memory figures
package e2e

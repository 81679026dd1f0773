package ddi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// md5Suffix names an artifact's checksum file.
const md5Suffix = ".MD5SUM"

// artifact describes release rel's image as the one artifact of its chunk,
// with links under the device's own path: the software module ID is the
// release ID.
func (h *Handler) artifact(r *http.Request, p core.Product, id string, rel core.Release) (artifact, error) {
	name, err := h.filename(r.Context(), p, rel)
	if err != nil {
		return artifact{}, err
	}
	sha1, err := h.svc.ReleaseSHA1(r.Context(), rel)
	if err != nil {
		return artifact{}, err
	}
	href := baseURL(r, p, id) + "/softwaremodules/" + strconv.FormatInt(rel.ID, 10) + "/artifacts/" +
		url.PathEscape(name)
	links := map[string]link{"download-http": {href}, "md5sum-http": {href + md5Suffix}}
	if r.TLS != nil {
		// "download" is the HTTPS link; clients that find it prefer it.
		links["download"], links["md5sum"] = link{href}, link{href + md5Suffix}
	}
	return artifact{
		Filename: name, Size: rel.Size, Links: links,
		Hashes: hashes{SHA1: sha1, MD5: rel.MD5, SHA256: rel.SHA256},
	}, nil
}

// filename names a release's artifact after the product and version, with
// the extension clients look for: SWUpdate only fetches artifacts whose
// name ends in ".swu", and RAUC bundles are ".raucb". The kind is read from
// the image's first bytes.
func (h *Handler) filename(ctx context.Context, p core.Product, rel core.Release) (string, error) {
	img, err := h.svc.OpenImage(ctx, rel)
	if err != nil {
		return "", err
	}
	defer img.Close()
	head := make([]byte, 6)
	n, err := io.ReadFull(img, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("read image of release %d: %w", rel.ID, err)
	}
	return p.Name + "-" + rel.Version + extension(head[:n]), nil
}

// extension returns the file extension of an image that starts with head.
func extension(head []byte) string {
	switch s := string(head); {
	case s == "070701" || s == "070702":
		return ".swu" // a cpio "newc" archive, SWUpdate's format
	case len(s) >= 4 && s[:4] == "hsqs":
		return ".raucb" // a squashfs image, the start of a RAUC bundle
	}
	return ".bin"
}

// module returns the release the module in r's path names, if the device
// may fetch it, and the artifact's file name.
func (h *Handler) module(r *http.Request, p core.Product, id string) (core.Release, core.Device, string, error) {
	s := r.PathValue("module")
	rid, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rid <= 0 {
		return core.Release{}, core.Device{}, "", errInvalid(fmt.Sprintf("software module %q: want a positive number",
			truncate(s, 40)))
	}
	rel, dev, err := h.svc.DeviceRelease(r.Context(), p, id, rid)
	if err != nil {
		return core.Release{}, core.Device{}, "", err
	}
	name, err := h.filename(r.Context(), p, rel)
	return rel, dev, name, err
}

// handleArtifacts lists a module's artifacts: its one image.
func (h *Handler) handleArtifacts(w http.ResponseWriter, r *http.Request) {
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rel, _, _, err := h.module(r, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.artifact(r, p, id, rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, []artifact{a})
}

// handleArtifact serves the image with Range and If-Range, its ETag the
// SHA-1 as in hawkBit, or its ".MD5SUM" file.
func (h *Handler) handleArtifact(w http.ResponseWriter, r *http.Request) {
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rel, dev, name, err := h.module(r, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	file := r.PathValue("file")
	if file == name+md5Suffix {
		w.Header().Set("Content-Disposition", "attachment;filename="+name+md5Suffix)
		httpkit.Text(w, http.StatusOK, rel.MD5+"  "+name)
		return
	}
	if file != name {
		h.fail(w, r, fmt.Errorf("software module %d has no artifact %q: %w", rel.ID, truncate(file, 80),
			core.ErrNotFound))
		return
	}

	sha1, err := h.svc.ReleaseSHA1(r.Context(), rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	img, err := h.svc.OpenImage(r.Context(), rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer img.Close()
	w.Header().Set("Content-Disposition", "attachment;filename="+name)
	n := httpkit.ServeImage(w, r, httpkit.Image{
		Content: img, ETag: `"` + sha1 + `"`, ContentType: "application/octet-stream",
	}, h.stall)
	h.svc.CountBytes(dev.ID, rel.ID, n)
}

/* selsa — video writing through FFmpeg (include/selsa/video_write.h): libx264 H.264 when the
 * build has it, else MPEG-4 part 2; BGR24 → YUV420P with swscale; atomic temp-file + rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "selsa/fileio.h"
#include "selsa/video_write.h"

struct selsa_video_writer {
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frm;
    AVPacket *pkt;
    struct SwsContext *sws;
    int in_h, in_w;      /* first frame's size (the size given to open) */
    int h, w;            /* stored size: in_h, in_w rounded up to even */
    uint8_t *pad;        /* h × w × 3 BGR staging buffer when in_* is odd, else NULL */
    int64_t n;           /* frames sent (next pts) */
    int header_written;
    char *path;          /* final name */
    char *tmp;           /* temporary name */
    char codec[32];
};

static const char *averr(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

int selsa_video_writer_has_codec(const char *name) {
    const AVCodec *c = name ? avcodec_find_encoder_by_name(name) : NULL;
    return c && c->type == AVMEDIA_TYPE_VIDEO;
}

const char *selsa_video_writer_default_codec(void) {
    if (avcodec_find_encoder_by_name("libx264")) return "libx264";
    if (avcodec_find_encoder(AV_CODEC_ID_MPEG4)) return "mpeg4";
    return NULL;
}

static void writer_free(selsa_video_writer *vw, int remove_tmp) {
    if (!vw) return;
    if (vw->oc && vw->oc->pb) avio_closep(&vw->oc->pb);
    if (remove_tmp && vw->tmp) unlink(vw->tmp);
    sws_freeContext(vw->sws);
    av_frame_free(&vw->frm);
    av_packet_free(&vw->pkt);
    avcodec_free_context(&vw->enc);
    if (vw->oc) avformat_free_context(vw->oc);
    free(vw->pad);
    free(vw->path);
    free(vw->tmp);
    free(vw);
}

void selsa_video_writer_abort(selsa_video_writer *vw) { writer_free(vw, 1); }

static selsa_status fail(selsa_video_writer *vw, selsa_status s) {
    writer_free(vw, 1);
    return s;
}

selsa_status selsa_video_writer_open(selsa_video_writer **out, const char *path, int h, int w,
                                     double fps, const char *codec) {
    if (!out || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_video_writer_open: NULL argument");
    *out = NULL;
    if (h < 1 || w < 1 || h > 16384 || w > 16384)
        return selsa_error(SELSA_ERR_INVALID_ARG, "video '%s': frame size %dx%d out of range (1..16384)", path, w, h);
    if (!(fps > 0 && fps <= 1000))
        return selsa_error(SELSA_ERR_INVALID_ARG, "video '%s': frame rate %g must be in (0, 1000]", path, fps);
    av_log_set_level(AV_LOG_QUIET); /* the library never prints */
    const char *name = (!codec || !strcmp(codec, "auto")) ? selsa_video_writer_default_codec() : codec;
    const AVCodec *enc = name ? avcodec_find_encoder_by_name(name) : NULL;
    if (!enc)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "video '%s': FFmpeg encoder '%s' is not available in this build",
                           path, name ? name : "libx264/mpeg4");
    if (enc->type != AVMEDIA_TYPE_VIDEO)
        return selsa_error(SELSA_ERR_INVALID_ARG, "video '%s': '%s' is not a video encoder", path, name);
    selsa_video_writer *vw = calloc(1, sizeof *vw);
    if (!vw) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video writer for '%s'", path);
    snprintf(vw->codec, sizeof vw->codec, "%s", enc->name);
    vw->in_h = h, vw->in_w = w;
    vw->h = (h + 1) & ~1, vw->w = (w + 1) & ~1;
    vw->path = strdup(path);
    size_t tl = strlen(path) + 16;
    vw->tmp = malloc(tl);
    if (!vw->path || !vw->tmp) return fail(vw, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video writer for '%s'", path));
    char eb[128];
    int e = avformat_alloc_output_context2(&vw->oc, NULL, NULL, path);
    if (e < 0 || !vw->oc) {
        free(vw->tmp), vw->tmp = NULL; /* nothing created yet */
        return fail(vw, selsa_error(SELSA_ERR_INVALID_ARG,
                                    "video '%s': no container format for this file name (use .mp4, .mkv, .avi): %s",
                                    path, averr(e, eb, sizeof eb)));
    }
    if (avformat_query_codec(vw->oc->oformat, enc->id, FF_COMPLIANCE_NORMAL) == 0) {
        free(vw->tmp), vw->tmp = NULL;
        return fail(vw, selsa_error(SELSA_ERR_UNSUPPORTED, "video '%s': the %s container cannot hold %s", path,
                                    vw->oc->oformat->name, enc->name));
    }
    vw->st = avformat_new_stream(vw->oc, NULL);
    vw->enc = avcodec_alloc_context3(enc);
    vw->frm = av_frame_alloc();
    vw->pkt = av_packet_alloc();
    if (!vw->st || !vw->enc || !vw->frm || !vw->pkt) {
        free(vw->tmp), vw->tmp = NULL;
        return fail(vw, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "FFmpeg encoder state for '%s'", path));
    }
    /* the rate as a rational with a 16-bit denominator (MPEG-4 part 2 requires it) */
    AVRational rate = av_d2q(fps, 65535);
    AVCodecContext *c = vw->enc;
    c->width = vw->w;
    c->height = vw->h;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = av_inv_q(rate);
    c->framerate = rate;
    c->sample_aspect_ratio = (AVRational){1, 1};
    c->gop_size = 12;
    c->thread_count = 1; /* deterministic output; the cores belong to the model */
    if (enc->id == AV_CODEC_ID_H264) {
        av_opt_set(c->priv_data, "preset", "veryfast", 0);
        av_opt_set(c->priv_data, "crf", "23", 0);
        c->gop_size = 250;
    } else {
        c->flags |= AV_CODEC_FLAG_QSCALE; /* constant quality: qscale 3 looks clean for drawings */
        c->global_quality = FF_QP2LAMBDA * 3;
        c->max_b_frames = 0;
    }
    if (vw->oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    e = avcodec_open2(c, enc, NULL);
    if (e < 0) {
        free(vw->tmp), vw->tmp = NULL;
        return fail(vw, selsa_error(SELSA_ERR_UNSUPPORTED, "video '%s': cannot open the %s encoder for %dx%d at %g fps: %s",
                                    path, enc->name, vw->w, vw->h, fps, averr(e, eb, sizeof eb)));
    }
    avcodec_parameters_from_context(vw->st->codecpar, c);
    vw->st->time_base = c->time_base;
    vw->st->avg_frame_rate = rate;
    vw->frm->format = c->pix_fmt;
    vw->frm->width = c->width;
    vw->frm->height = c->height;
    if ((e = av_frame_get_buffer(vw->frm, 0)) < 0) {
        free(vw->tmp), vw->tmp = NULL;
        return fail(vw, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video '%s': frame buffer: %s", path, averr(e, eb, sizeof eb)));
    }
    if (vw->h != h || vw->w != w) {
        vw->pad = malloc((size_t)vw->h * (size_t)vw->w * 3);
        if (!vw->pad) {
            free(vw->tmp), vw->tmp = NULL;
            return fail(vw, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video '%s': padding buffer", path));
        }
    }
    /* the temporary file, next to the target so the rename stays on one file system */
    snprintf(vw->tmp, tl, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(vw->tmp);
    if (fd < 0) {
        int err = errno;
        free(vw->tmp), vw->tmp = NULL;
        return fail(vw, selsa_error(SELSA_ERR_IO, "cannot create video '%s': %s", path, strerror(err)));
    }
    close(fd);
    char url[4200];
    snprintf(url, sizeof url, "file:%s", vw->tmp);
    if ((e = avio_open(&vw->oc->pb, url, AVIO_FLAG_WRITE)) < 0)
        return fail(vw, selsa_error(SELSA_ERR_IO, "cannot write video '%s': %s", vw->tmp, averr(e, eb, sizeof eb)));
    if ((e = avformat_write_header(vw->oc, NULL)) < 0)
        return fail(vw, selsa_error(SELSA_ERR_IO, "video '%s': cannot write the %s header: %s", path,
                                    vw->oc->oformat->name, averr(e, eb, sizeof eb)));
    vw->header_written = 1;
    *out = vw;
    return SELSA_OK;
}

/* Send one frame (or NULL to flush) and write every packet the encoder returns. */
static selsa_status encode(selsa_video_writer *vw, AVFrame *f) {
    char eb[128];
    int e = avcodec_send_frame(vw->enc, f);
    if (e < 0)
        return selsa_error(SELSA_ERR_IO, "video '%s': encoding frame %lld failed: %s", vw->path, (long long)vw->n,
                           averr(e, eb, sizeof eb));
    for (;;) {
        e = avcodec_receive_packet(vw->enc, vw->pkt);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return SELSA_OK;
        if (e < 0)
            return selsa_error(SELSA_ERR_IO, "video '%s': encoder error: %s", vw->path, averr(e, eb, sizeof eb));
        av_packet_rescale_ts(vw->pkt, vw->enc->time_base, vw->st->time_base);
        vw->pkt->stream_index = vw->st->index;
        e = av_interleaved_write_frame(vw->oc, vw->pkt); /* takes ownership of the packet data */
        if (e < 0)
            return selsa_error(SELSA_ERR_IO, "cannot write video '%s': %s", vw->tmp, averr(e, eb, sizeof eb));
    }
}

selsa_status selsa_video_writer_write(selsa_video_writer *vw, const selsa_image *img) {
    if (!vw || !img) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_video_writer_write: NULL argument");
    if (!img->data || img->h < 1 || img->w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "video '%s': frame %lld has no pixels", vw->path, (long long)vw->n);
    const uint8_t *src = img->data;
    int sh = img->h, sw = img->w;
    if (vw->pad && sh == vw->in_h && sw == vw->in_w) {
        /* odd size: copy into the even staging buffer, repeating the last column and row */
        size_t srow = (size_t)sw * 3, drow = (size_t)vw->w * 3;
        for (int y = 0; y < vw->h; y++) {
            const uint8_t *s = src + (size_t)(y < sh ? y : sh - 1) * srow;
            uint8_t *d = vw->pad + (size_t)y * drow;
            memcpy(d, s, srow);
            if (vw->w > sw) memcpy(d + srow, s + srow - 3, 3);
        }
        src = vw->pad, sh = vw->h, sw = vw->w;
    }
    vw->sws = sws_getCachedContext(vw->sws, sw, sh, AV_PIX_FMT_BGR24, vw->w, vw->h, AV_PIX_FMT_YUV420P,
                                   SWS_BILINEAR, NULL, NULL, NULL);
    if (!vw->sws)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "video '%s': no conversion from %dx%d BGR24", vw->path, sw, sh);
    char eb[128];
    int e = av_frame_make_writable(vw->frm);
    if (e < 0) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video '%s': frame buffer: %s", vw->path, averr(e, eb, sizeof eb));
    const uint8_t *planes[1] = {src};
    const int strides[1] = {sw * 3};
    sws_scale(vw->sws, planes, strides, 0, sh, vw->frm->data, vw->frm->linesize);
    vw->frm->pts = vw->n;
    if (vw->enc->flags & AV_CODEC_FLAG_QSCALE) vw->frm->quality = vw->enc->global_quality;
    SELSA_TRY(encode(vw, vw->frm));
    vw->n++;
    return SELSA_OK;
}

selsa_status selsa_video_writer_close(selsa_video_writer *vw) {
    if (!vw) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_video_writer_close: NULL writer");
    selsa_status s = encode(vw, NULL); /* flush delayed frames */
    char eb[128];
    int e;
    if (s == SELSA_OK && (e = av_write_trailer(vw->oc)) < 0)
        s = selsa_error(SELSA_ERR_IO, "cannot finish video '%s': %s", vw->tmp, averr(e, eb, sizeof eb));
    if (s == SELSA_OK && (e = avio_closep(&vw->oc->pb)) < 0)
        s = selsa_error(SELSA_ERR_IO, "cannot close video '%s': %s", vw->tmp, averr(e, eb, sizeof eb));
    if (s == SELSA_OK) s = selsa_file_tmp_commit(vw->tmp, vw->path); /* fsync, mode, rename */
    writer_free(vw, s != SELSA_OK);
    return s;
}

const char *selsa_video_writer_codec(const selsa_video_writer *vw) { return vw ? vw->codec : ""; }

void selsa_video_writer_size(const selsa_video_writer *vw, int *h, int *w) {
    if (h) *h = vw ? vw->h : 0;
    if (w) *w = vw ? vw->w : 0;
}

int64_t selsa_video_writer_frames(const selsa_video_writer *vw) { return vw ? vw->n : 0; }

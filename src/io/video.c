/* selsa — video decoding through FFmpeg (libavformat demux, libavcodec decode, libswscale
 * conversion to packed BGR24). One decoded frame is held at a time. Lossless sources (ffv1,
 * png, rawvideo in RGB/BGR/GBR formats) come out bit-exact: the swscale conversion between
 * 8-bit RGB layouts is a permutation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>

#include "selsa/frames.h"

struct selsa_video {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frm;
    struct SwsContext *sws;
    int stream;
    int eof_sent; /* the flush packet has been sent to the decoder */
    int64_t decoded;
    char *path;
};

static const char *averr(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

void selsa_video_close(selsa_video *v) {
    if (!v) return;
    sws_freeContext(v->sws);
    av_frame_free(&v->frm);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    free(v->path);
    free(v);
}

selsa_status selsa_video_open(const char *path, selsa_video **out) {
    if (!path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_video_open: NULL argument");
    *out = NULL;
    av_log_set_level(AV_LOG_QUIET); /* the library never prints */
    selsa_video *v = (selsa_video *)calloc(1, sizeof(*v));
    if (!v) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "video state for '%s'", path);
    v->path = strdup(path);
    char eb[128];
    int e = avformat_open_input(&v->fmt, path, NULL, NULL);
    if (e < 0) {
        selsa_video_close(v);
        return selsa_error(e == AVERROR(ENOENT) || e == AVERROR(EACCES) ? SELSA_ERR_IO : SELSA_ERR_FORMAT,
                           "cannot open video '%s': %s", path, averr(e, eb, sizeof eb));
    }
    e = avformat_find_stream_info(v->fmt, NULL);
    if (e < 0) {
        selsa_video_close(v);
        return selsa_error(SELSA_ERR_FORMAT, "cannot read stream info of '%s': %s", path,
                           averr(e, eb, sizeof eb));
    }
    const AVCodec *codec = NULL;
    v->stream = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (v->stream < 0 || !codec) {
        selsa_video_close(v);
        return selsa_error(SELSA_ERR_FORMAT, "'%s' has no decodable video stream", path);
    }
    v->dec = avcodec_alloc_context3(codec);
    v->pkt = av_packet_alloc();
    v->frm = av_frame_alloc();
    if (!v->dec || !v->pkt || !v->frm) {
        selsa_video_close(v);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "FFmpeg decoder state for '%s'", path);
    }
    avcodec_parameters_to_context(v->dec, v->fmt->streams[v->stream]->codecpar);
    v->dec->thread_count = 1; /* deterministic, and the machine's cores belong to the model */
    e = avcodec_open2(v->dec, codec, NULL);
    if (e < 0) {
        selsa_video_close(v);
        return selsa_error(SELSA_ERR_FORMAT, "cannot open the %s decoder for '%s': %s", codec->name,
                           path, averr(e, eb, sizeof eb));
    }
    *out = v;
    return SELSA_OK;
}

int64_t selsa_video_frame_count(const selsa_video *v) {
    if (!v) return -1;
    int64_t n = v->fmt->streams[v->stream]->nb_frames;
    return n > 0 ? n : -1;
}

void selsa_video_size(const selsa_video *v, int *h, int *w) {
    if (h) *h = v ? v->dec->height : 0;
    if (w) *w = v ? v->dec->width : 0;
}

double selsa_video_fps(const selsa_video *v) {
    if (!v) return 0;
    AVRational r = v->fmt->streams[v->stream]->avg_frame_rate;
    return r.den > 0 && r.num > 0 ? av_q2d(r) : 0.0;
}

/* Convert the decoded frame to BGR24 into img. */
static selsa_status convert(selsa_video *v, selsa_image *img) {
    AVFrame *f = v->frm;
    if (f->width <= 0 || f->height <= 0)
        return selsa_error(SELSA_ERR_FORMAT, "video '%s': frame %lld has no size", v->path,
                           (long long)v->decoded);
    v->sws = sws_getCachedContext(v->sws, f->width, f->height, (enum AVPixelFormat)f->format,
                                  f->width, f->height, AV_PIX_FMT_BGR24,
                                  SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL,
                                  NULL);
    if (!v->sws)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "video '%s': cannot convert pixel format %s to BGR24",
                           v->path, av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    SELSA_TRY(selsa_image_alloc(img, f->height, f->width));
    uint8_t *dst[4] = {img->data, NULL, NULL, NULL};
    int dst_stride[4] = {f->width * 3, 0, 0, 0};
    sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    return SELSA_OK;
}

selsa_status selsa_video_read(selsa_video *v, selsa_image *frame, int *got) {
    if (!v || !frame || !got) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_video_read: NULL argument");
    *got = 0;
    char eb[128];
    for (;;) {
        int e = avcodec_receive_frame(v->dec, v->frm);
        if (e == 0) {
            selsa_status st = convert(v, frame);
            av_frame_unref(v->frm);
            if (st != SELSA_OK) return st;
            v->decoded++;
            *got = 1;
            return SELSA_OK;
        }
        if (e == AVERROR_EOF) return SELSA_OK;
        if (e != AVERROR(EAGAIN))
            return selsa_error(SELSA_ERR_FORMAT, "video '%s': decoding frame %lld failed: %s", v->path,
                               (long long)v->decoded, averr(e, eb, sizeof eb));
        if (v->eof_sent) return SELSA_OK;
        /* feed the next packet of our stream */
        for (;;) {
            e = av_read_frame(v->fmt, v->pkt);
            if (e == AVERROR_EOF) {
                avcodec_send_packet(v->dec, NULL);
                v->eof_sent = 1;
                break;
            }
            if (e < 0)
                return selsa_error(SELSA_ERR_FORMAT, "video '%s': read error after frame %lld: %s",
                                   v->path, (long long)v->decoded, averr(e, eb, sizeof eb));
            if (v->pkt->stream_index != v->stream) {
                av_packet_unref(v->pkt);
                continue;
            }
            e = avcodec_send_packet(v->dec, v->pkt);
            av_packet_unref(v->pkt);
            if (e < 0 && e != AVERROR(EAGAIN))
                return selsa_error(SELSA_ERR_FORMAT, "video '%s': corrupt data after frame %lld: %s",
                                   v->path, (long long)v->decoded, averr(e, eb, sizeof eb));
            break;
        }
    }
}

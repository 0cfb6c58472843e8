#ifndef STREAMD_CFFMPEG_SHIM_H
#define STREAMD_CFFMPEG_SHIM_H
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* Macros Swift cannot import, as one-line functions. */
static inline int streamd_averror(int e) { return AVERROR(e); }
static inline int streamd_averror_eof(void) { return AVERROR_EOF; }
static inline int64_t streamd_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational streamd_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int streamd_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int streamd_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int streamd_averror_enomem(void) { return AVERROR(ENOMEM); }

/* Points a video frame's planes (format, width, height set) into one buffer from `pool`; the buffer
   returns to the pool when the frame's last reference goes. Swift cannot pass AVFrame's fixed-size
   data/linesize arrays to av_image_fill_arrays. */
static inline int streamd_frame_get_pooled_buffer(AVFrame *frame, AVBufferPool *pool, int align) {
    AVBufferRef *buffer = av_buffer_pool_get(pool);
    if (!buffer) return AVERROR(ENOMEM);
    int ret = av_image_fill_arrays(frame->data, frame->linesize, buffer->data, (enum AVPixelFormat)frame->format,
                                   frame->width, frame->height, align);
    if (ret < 0) { av_buffer_unref(&buffer); return ret; }
    frame->buf[0] = buffer;
    return 0;
}
#endif

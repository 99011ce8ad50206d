/* Dataset reader: the real ImageSets counts (skipped when ../shared/data is absent), malformed
 * list lines, VOC XML parsing (raw vs training clamp, flip, skipped classes) and malformed XML,
 * all with errors naming file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/dataset.h"

static char g_tmp[64];

static const char *write_tmp(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_real_lists(void) {
    const char *dir = "../shared/data/ImageSets";
    char p[256];
    snprintf(p, sizeof p, "%s/VID_train_15frames.txt", dir);
    if (access(p, R_OK) != 0) {
        th_skip("../shared/data/ImageSets absent: real list counts not checked");
        return;
    }
    selsa_imageset s;
    if (TH_OK(selsa_imageset_read(p, SELSA_IMAGESET_VID_TRAIN, &s))) {
        TH_CHECK(s.n == 57834, "VID train lines %lld (want 57834)", (long long)s.n);
        TH_CHECK(selsa_imageset_count_unique(&s) == 3862, "VID train videos %lld (want 3862)",
                 (long long)selsa_imageset_count_unique(&s));
        TH_CHECK(!strcmp(s.entries[0].path, "train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000") &&
                     s.entries[0].id == 1 && s.entries[0].seg_id == 10 && s.entries[0].seg_len == 300,
                 "first VID train entry: %s %lld %d %d", s.entries[0].path, (long long)s.entries[0].id,
                 s.entries[0].seg_id, s.entries[0].seg_len);
        char img[512];
        TH_OK(selsa_imageset_image_path("/d", &s, 0, s.entries[0].seg_id, img, sizeof img));
        TH_CHECK(!strcmp(img, "/d/Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000010.JPEG"),
                 "image path %s", img);
        TH_OK(selsa_imageset_annotation_path("/d", &s, 0, 10, img, sizeof img));
        TH_CHECK(!strcmp(img, "/d/Annotations/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000010.xml"),
                 "annotation path %s", img);
        TH_FAILS(selsa_imageset_image_path("/d", &s, 0, 10, img, 20), SELSA_ERR_INVALID_ARG);
        selsa_imageset_free(&s);
    }
    snprintf(p, sizeof p, "%s/VID_val_videos.txt", dir);
    if (TH_OK(selsa_imageset_read(p, SELSA_IMAGESET_VID_VAL, &s))) {
        TH_CHECK(s.n == 555 && selsa_imageset_count_unique(&s) == 555, "val videos %lld", (long long)s.n);
        TH_CHECK(selsa_imageset_total_frames(&s) == 176126, "val frames %lld (want 176126)",
                 (long long)selsa_imageset_total_frames(&s));
        TH_CHECK(!strcmp(s.entries[0].path, "val/ILSVRC2015_val_00000000") && s.entries[0].id == 1 &&
                     s.entries[0].seg_len == 464,
                 "first val entry %s %lld %d", s.entries[0].path, (long long)s.entries[0].id, s.entries[0].seg_len);
        selsa_imageset_free(&s);
    }
    snprintf(p, sizeof p, "%s/DET_train_30classes.txt", dir);
    if (TH_OK(selsa_imageset_read(p, SELSA_IMAGESET_DET_TRAIN, &s))) {
        TH_CHECK(s.n == 53639, "DET lines %lld (want 53639)", (long long)s.n);
        TH_CHECK(selsa_imageset_count_unique(&s) == 53237, "DET unique %lld (want 53237)",
                 (long long)selsa_imageset_count_unique(&s));
        char img[512];
        TH_OK(selsa_imageset_image_path("/d", &s, 0, 0, img, sizeof img));
        printf("  DET entry 0 -> %s\n", img);
        TH_CHECK(strncmp(img, "/d/Data/DET/train/", 18) == 0 && strstr(img, ".JPEG"), "DET path %s", img);
        selsa_imageset_free(&s);
    }
}

static void expect_list_error(const char *text, selsa_imageset_kind kind, const char *want_in_msg) {
    selsa_imageset s;
    const char *p = write_tmp("list.txt", text);
    TH_FAILS(selsa_imageset_read(p, kind, &s), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), want_in_msg) != NULL && strstr(selsa_last_error(), "list.txt"),
             "message '%s' should contain '%s' and the file", selsa_last_error(), want_in_msg);
}

static void test_list_errors(void) {
    selsa_imageset s;
    const char *p = write_tmp("ok.txt", "a/v0 1 0 3\na/v0 1 2 3\n\na/v1 1 5 9");
    if (TH_OK(selsa_imageset_read(p, SELSA_IMAGESET_VID_TRAIN, &s))) {
        TH_CHECK(s.n == 3 && selsa_imageset_count_unique(&s) == 2 && s.entries[2].seg_id == 5,
                 "small VID train list (no trailing newline)");
        selsa_imageset_free(&s);
    }
    expect_list_error("a/v0 1 0 3\na/v0 1 2\n", SELSA_IMAGESET_VID_TRAIN, "list.txt:2:");
    expect_list_error("a/v0 1 x 3\n", SELSA_IMAGESET_VID_TRAIN, "list.txt:1:");
    expect_list_error("a/v0 1 3 3\n", SELSA_IMAGESET_VID_TRAIN, "frame_seg_id 3");
    expect_list_error("a/v0 1 -1 3\n", SELSA_IMAGESET_VID_TRAIN, "column 3");
    expect_list_error("val/a 1 0 10\nval/b 12 0 5\n", SELSA_IMAGESET_VID_VAL, "list.txt:2:");
    expect_list_error("train/x 1 extra\n", SELSA_IMAGESET_DET_TRAIN, "expected 2 columns");
    expect_list_error("\n\n", SELSA_IMAGESET_DET_TRAIN, "empty");
    TH_FAILS(selsa_imageset_read("/nonexistent/list.txt", SELSA_IMAGESET_DET_TRAIN, &s), SELSA_ERR_IO);
}

static const char *VID_XML =
    "<annotation>\n"
    "  <folder>ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000</folder>\n"
    "  <filename>000010</filename>\n"
    "  <source><database>ILSVRC_2015</database></source>\n"
    "  <size><width>1280</width><height>720</height></size>\n"
    "  <object>\n"
    "    <trackid>0</trackid><name>n01662784</name>\n"
    "    <bndbox><xmax>1280</xmax><xmin>-3</xmin><ymax>402</ymax><ymin>10</ymin></bndbox>\n"
    "    <occluded>1</occluded><generated>0</generated>\n"
    "  </object>\n"
    "  <object>\n"
    "    <trackid>1</trackid><name>n99999999</name>\n"
    "    <bndbox><xmax>5</xmax><xmin>1</xmin><ymax>5</ymax><ymin>1</ymin></bndbox>\n"
    "  </object>\n"
    "  <object>\n"
    "    <trackid>2</trackid><name> n02691156 </name>\n"
    "    <bndbox><xmax>700</xmax><xmin>100</xmin><ymax>725</ymax><ymin>200</ymin></bndbox>\n"
    "    <occluded>0</occluded><generated>1</generated>\n"
    "  </object>\n"
    "</annotation>\n";

static void expect_xml_error(const char *xml, const char *want_in_msg) {
    selsa_annotation a;
    const char *p = write_tmp("bad.xml", xml);
    TH_FAILS(selsa_annotation_read(p, SELSA_BOXES_RAW, &a), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), want_in_msg) != NULL && strstr(selsa_last_error(), "bad.xml"),
             "message '%s' should contain '%s' and the file", selsa_last_error(), want_in_msg);
}

static void test_xml(void) {
    selsa_annotation a;
    const char *p = write_tmp("000010.xml", VID_XML);
    if (TH_OK(selsa_annotation_read(p, SELSA_BOXES_RAW, &a))) {
        TH_CHECK(a.width == 1280 && a.height == 720 && a.n_objects == 2 && a.n_skipped == 1,
                 "size %dx%d, %d objects, %d skipped", a.width, a.height, a.n_objects, a.n_skipped);
        const selsa_object *o = &a.objects[0];
        TH_CHECK(o->label == 27 && o->x1 == -3 && o->y1 == 10 && o->x2 == 1280 && o->y2 == 402 &&
                     o->trackid == 0 && o->occluded == 1 && o->generated == 0 && o->line == 6,
                 "raw object 0: label %d box %g %g %g %g track %d occ %d gen %d line %d", o->label,
                 o->x1, o->y1, o->x2, o->y2, o->trackid, o->occluded, o->generated, o->line);
        o = &a.objects[1];
        TH_CHECK(o->label == 1 && o->y2 == 725 && o->trackid == 2 && o->generated == 1, "raw object 1");
        selsa_annotation_free(&a);
    }
    if (TH_OK(selsa_annotation_read(p, SELSA_BOXES_TRAIN, &a))) {
        const selsa_object *o = &a.objects[0];
        TH_CHECK(o->x1 == 0 && o->y1 == 10 && o->x2 == 1279 && o->y2 == 402, "clamped: %g %g %g %g",
                 o->x1, o->y1, o->x2, o->y2);
        TH_CHECK(a.objects[1].y2 == 719, "clamped y2 %g", a.objects[1].y2);
        selsa_annotation_flip(&a);
        o = &a.objects[0];
        TH_CHECK(o->x1 == 0 && o->x2 == 1279, "flip full-width box: %g %g", o->x1, o->x2);
        o = &a.objects[1];
        TH_CHECK(o->x1 == 1280 - 700 - 1 && o->x2 == 1280 - 100 - 1, "flip: %g %g", o->x1, o->x2);
        selsa_annotation_flip(&a);
        TH_CHECK(a.objects[1].x1 == 100 && a.objects[1].x2 == 700, "flip twice = identity");
        selsa_annotation_free(&a);
    }
    /* DET style: no trackid; no objects at all */
    const char *det = "<annotation><size><width>500</width><height>375</height></size>"
                      "<object><name>n02084071</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>499</xmax>"
                      "<ymax>374</ymax></bndbox></object></annotation>";
    if (TH_OK(selsa_annotation_parse(det, strlen(det), "det.xml", SELSA_BOXES_TRAIN, &a))) {
        TH_CHECK(a.n_objects == 1 && a.objects[0].label == 9 && a.objects[0].trackid == -1, "DET object");
        selsa_annotation_free(&a);
    }
    const char *empty = "<annotation><size><width>5</width><height>4</height></size></annotation>";
    if (TH_OK(selsa_annotation_parse(empty, strlen(empty), "e.xml", SELSA_BOXES_RAW, &a))) {
        TH_CHECK(a.n_objects == 0 && a.objects == NULL, "no objects");
        selsa_annotation_free(&a);
    }
    /* malformed */
    expect_xml_error("<annotation>\n<size><width>5</width><height>4</height></size>\n<object>\n</annotation>\n",
                     "bad.xml:4: malformed XML");
    expect_xml_error("<annotation><size><width>5</width></size></annotation>", "missing <size>");
    expect_xml_error("<annotation><size><width>0</width><height>4</height></size></annotation>", "must be positive");
    expect_xml_error("<annotation>\n<size><width>50</width><height>40</height></size>\n<object><name>n02084071</name>"
                     "<bndbox><xmin>9</xmin><ymin>1</ymin><xmax>3</xmax><ymax>5</ymax></bndbox></object></annotation>",
                     "bad.xml:3: inverted box");
    expect_xml_error("<annotation><size><width>50</width><height>40</height></size><object><name>n02084071</name>"
                     "<bndbox><xmin>60</xmin><ymin>1</ymin><xmax>70</xmax><ymax>5</ymax></bndbox></object></annotation>",
                     "outside");
    expect_xml_error("<annotation><size><width>50</width><height>40</height></size><object><name>n02084071</name>"
                     "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>7</xmax></bndbox></object></annotation>",
                     "complete <bndbox>");
    expect_xml_error("<annotation><size><width>50</width><height>40</height></size><object><name>n02084071</name>"
                     "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>7x</xmax><ymax>5</ymax></bndbox></object></annotation>",
                     "not a number");
    expect_xml_error("<annotation><size><width>50</width><height>40</height></size><object>"
                     "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>7</xmax><ymax>5</ymax></bndbox></object></annotation>",
                     "without <name>");
    expect_xml_error("", "malformed XML");
    TH_FAILS(selsa_annotation_read("/nonexistent/a.xml", SELSA_BOXES_RAW, &a), SELSA_ERR_IO);
    TH_CHECK(strstr(selsa_last_error(), "/nonexistent/a.xml") != NULL, "%s", selsa_last_error());
}

int main(int argc, char **argv) {
    th_init(argc, argv, "dataset");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/selsa_test_dataset_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_real_lists();
    test_list_errors();
    test_xml();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", g_tmp);
    return th_finish();
}

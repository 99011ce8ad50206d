/* The selsa command line: exit codes and messages of each subcommand, on tiny data made here.
 * The tool is found next to the tests directory (BUILD/selsa for BUILD/tests/test_cli). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char tool[4096];
static char out_buf[65536];

/* Run "tool args" with stdout+stderr captured into out_buf; returns the exit code. */
static int run(const char *args) { return th_run_cli(tool, args, out_buf, sizeof out_buf); }

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_xml(const char *path, int with_object) {
    char xml[2048];
    snprintf(xml, sizeof xml,
             "<annotation><folder>x</folder><filename>y</filename><size><width>100</width>"
             "<height>80</height></size>%s</annotation>\n",
             with_object ? "<object><trackid>0</trackid><name>n02691156</name><bndbox><xmax>60</xmax>"
                           "<xmin>20</xmin><ymax>50</ymax><ymin>10</ymin></bndbox><occluded>0</occluded>"
                           "<generated>0</generated></object>"
                         : "");
    write_file(path, xml);
}

static void test_general(void) {
    TH_CHECK(run("") == 2, "no command is a usage error");
    TH_CHECK(run("--help") == 0 && strstr(out_buf, "inspect"), "help lists commands");
    TH_CHECK(run("frobnicate") == 2 && strstr(out_buf, "unknown command"), "unknown command");
    TH_CHECK(run("version") == 0 && strstr(out_buf, "OpenBLAS"), "version shows BLAS: %s", out_buf);
    const char *cmds[] = {"version", "inspect", "eval", "synth", "test", "init-weights"};
    for (int i = 0; i < 6; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        TH_CHECK(run(a) == 0 && strstr(out_buf, "usage: selsa"), "%s --help", cmds[i]);
    }
}

static void test_inspect(const char *dir) {
    TH_CHECK(run("inspect") == 2 && strstr(out_buf, "missing FILE"), "inspect without file");
    TH_CHECK(run("inspect /nonexistent/x.params") == 4 && strstr(out_buf, "/nonexistent/x.params"),
             "missing file names it: %s", out_buf);
    char path[4096], args[8192];
    snprintf(path, sizeof path, "%s/garbage.params", dir);
    write_file(path, "this is not a weight file at all");
    snprintf(args, sizeof args, "inspect %s", path);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "error"), "garbage file is a model error: %s", out_buf);
    /* a real .params written by the reference generator of the weight tests */
    const char *fx = th_fixture_path("weights_v2.params");
    if (access(fx, R_OK) == 0) {
        snprintf(args, sizeof args, "inspect %s", fx);
        TH_CHECK(run(args) == 0 && strstr(out_buf, "mxnet") && strstr(out_buf, "tensors"),
                 "inspect .params: %s", out_buf);
    } else {
        th_skip("weights_v2.params fixture absent");
    }
    fx = th_fixture_path("weights_r50_zip.pth");
    if (access(fx, R_OK) == 0) {
        snprintf(args, sizeof args, "inspect %s", fx);
        TH_CHECK(run(args) == 0 && strstr(out_buf, "backbone.conv1.weight") && strstr(out_buf, "airplane"),
                 "inspect .pth lists keys and classes");
    } else {
        th_skip("weights_r50_zip.pth fixture absent");
    }
}

static void test_eval(const char *dir) {
    /* ILSVRC layout: one val video of 3 frames, objects in frames 0 and 1, none in 2 */
    char p[4096], args[8192];
    snprintf(p, sizeof p, "%s/ds", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/ds/ImageSets", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/ds/ImageSets/VID_val_videos.txt", dir);
    write_file(p, "val/v0 1 0 3\n");
    const char *parts[] = {"Annotations", "Annotations/VID", "Annotations/VID/val", "Annotations/VID/val/v0"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/ds/%s", dir, parts[i]);
        mkdir(p, 0755);
    }
    for (int f = 0; f < 3; f++) {
        snprintf(p, sizeof p, "%s/ds/Annotations/VID/val/v0/%06d.xml", dir, f);
        write_xml(p, f < 2);
    }
    snprintf(p, sizeof p, "%s/dets.txt", dir);
    write_file(p, "1 1 0.9 20 10 60 50\n2 1 0.8 21 10 61 50\n3 1 0.3 0 0 10 10\n");
    snprintf(args, sizeof args, "eval --root %s/ds --dets %s/dets.txt --json %s/res.json", dir, dir, dir);
    int rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "airplane"), "eval happy path (rc %d): %s", rc, out_buf);
    snprintf(p, sizeof p, "%s/res.json", dir);
    TH_CHECK(access(p, R_OK) == 0, "eval wrote JSON");
    /* CocoVID export, validated by Python's json module (the test references' interpreter) */
    snprintf(args, sizeof args, "eval --root %s/ds --dets %s/dets.txt --no-motion --coco-gt %s/gt.json "
             "--coco-dets %s/cdets.json", dir, dir, dir, dir);
    TH_CHECK(run(args) == 0, "eval with COCO export: %s", out_buf);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,sys; g=json.load(open('%s/gt.json')); d=json.load(open('%s/cdets.json'));"
             " assert len(g['categories'])==30 and len(g['images'])==3 and len(g['annotations'])==2, g;"
             " a=g['annotations'][0]; assert a['bbox']==[20,10,40,40] and a['instance_id']==1 and a['image_id']==1, a;"
             " assert len(d)==3 and d[0]['bbox']==[20,10,40,40] and d[0]['category_id']==1, d\"", dir, dir);
    TH_CHECK(system(cmd) == 0, "CocoVID JSON content");
    snprintf(p, sizeof p, "%s/bad.txt", dir);
    write_file(p, "1 1 0.9 20 10 60\n");
    snprintf(args, sizeof args, "eval --root %s/ds --dets %s/bad.txt", dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "bad.txt:1"), "malformed detections name file:line: %s", out_buf);
    snprintf(args, sizeof args, "eval --root %s/nowhere --dets %s/dets.txt", dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "nowhere"), "missing dataset: %s", out_buf);
    TH_CHECK(run("eval --dets x") == 2 && strstr(out_buf, "--root"), "eval without --root");
    snprintf(p, sizeof p, "%s/ds/Annotations/VID/val/v0/000001.xml", dir);
    write_file(p, "<annotation><size><width>100</width>");
    snprintf(args, sizeof args, "eval --root %s/ds --dets %s/dets.txt", dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "000001.xml"), "broken XML is an input error naming the file: %s", out_buf);
}

static void test_synth(const char *dir) {
    char args[8192], p[4096];
    TH_CHECK(run("synth") == 2 && strstr(out_buf, "--out"), "synth without --out");
    snprintf(args, sizeof args, "synth --out %s/syn --frames 5:9 --classes 0", dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "class"), "bad config names the field: %s", out_buf);
    snprintf(args, sizeof args, "synth --out %s/syn --size 96x64 --train-videos 1 --val-videos 2 --frames 5:9 "
             "--det-images 2 --seed 3", dir);
    TH_CHECK(run(args) == 0 && strstr(out_buf, "dataset written"), "synth happy path: %s", out_buf);
    snprintf(p, sizeof p, "%s/syn/ImageSets/VID_val_videos.txt", dir);
    TH_CHECK(access(p, R_OK) == 0, "synth wrote the val list");
    /* the synthetic ground truth evaluated as detections: perfect scores */
    snprintf(args, sizeof args, "eval --root %s/syn --dets /dev/null --no-motion", dir);
    TH_CHECK(run(args) == 0 && strstr(out_buf, "mAP@0.5 0.0000"), "eval of no detections on synth: %s", out_buf);
    snprintf(args, sizeof args, "synth --out /proc/selsa_cannot_write --size 96x64 --train-videos 1 "
             "--val-videos 1 --frames 5:5 --det-images 0");
    TH_CHECK(run(args) == 3, "unwritable output is an input/output error: %s", out_buf);
}

/* selsa test end to end on the synthetic dataset made by test_synth (dir/syn), tiny models. */
static void test_test(const char *dir) {
    char args[8192], p[4096];
    snprintf(args, sizeof args, "init-weights --preset tiny --seed 2 --out %s/tiny.params", dir);
    TH_CHECK(run(args) == 0, "init-weights tiny: %s", out_buf);
    snprintf(args, sizeof args, "init-weights --preset nosuch --out %s/x.params", dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "nosuch"), "init-weights unknown preset");
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/tiny.params --preset tiny --key-interval 2 "
             "--out %s/t1 --quiet", dir, dir, dir);
    int rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "mAP@0.5"), "test happy path (rc %d): %s", rc, out_buf);
    snprintf(p, sizeof p, "%s/t1/detections.txt", dir);
    TH_CHECK(access(p, R_OK) == 0, "test wrote detections");
    /* the detections evaluate the same through `selsa eval` */
    snprintf(args, sizeof args, "eval --root %s/syn --dets %s/t1/detections.txt --no-motion", dir, dir);
    TH_CHECK(run(args) == 0, "eval of test output");
    /* the weights prefix rule: PREFIX -> PREFIX-0000.params */
    snprintf(args, sizeof args, "init-weights --preset tiny --out %s/pfx-0000.params", dir);
    run(args);
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/pfx --preset tiny --key-interval 1 "
             "--out %s/t2 --quiet --no-eval --temporal-order", dir, dir, dir);
    TH_CHECK(run(args) == 0, "PREFIX-0000.params resolution: %s", out_buf);
    /* errors */
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/missing.params --preset tiny --out %s/t3",
             dir, dir, dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "missing"), "missing weights: model error naming the file: %s", out_buf);
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/tiny.params --preset r101 --out %s/t3",
             dir, dir, dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "shape"), "wrong model type/size is a model error: %s", out_buf);
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/tiny.params --preset bogus", dir, dir);
    TH_CHECK(run(args) == 2, "unknown preset is a usage error");
    snprintf(args, sizeof args, "test --test-pretrained %s/tiny.params", dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "--root"), "missing root");
    /* an unreadable frame: corrupt the first val frame */
    snprintf(p, sizeof p, "%s/syn/Data/VID/val/ILSVRC2015_val_00000000/000000.JPEG", dir);
    FILE *f = fopen(p, "w");
    if (f) fputs("not a jpeg", f), fclose(f);
    snprintf(args, sizeof args, "test --root %s/syn --test-pretrained %s/tiny.params --preset tiny --out %s/t4 --quiet",
             dir, dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "000000.JPEG"), "unreadable frame is an input error naming it: %s", out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "cli");
    th_tool_path(tool, sizeof tool);
    if (access(tool, X_OK) != 0) {
        TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
        return th_finish();
    }
    char dir[] = "/tmp/selsa_cli_XXXXXX";
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_general();
    test_inspect(dir);
    test_eval(dir);
    test_synth(dir);
    test_test(dir);
    th_remove_tree(dir);
    return th_finish();
}

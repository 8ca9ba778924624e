"""Each benchmark reader against small fake folders with the layouts' quirks."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker.datasets import (DatasetError, read_dataset, read_got10k, read_lasot, read_otb,
                              read_uav123, read_vot)


def images(folder: Path, n: int, start: int = 1, digits: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(start, start + n):
        cv2.imwrite(str(folder / f"{i:0{digits}d}.jpg"), img)


def test_otb_separators_one_based_and_two_targets(tmp_path):
    images(tmp_path / "Skating2" / "img", 3)
    (tmp_path / "Skating2" / "groundtruth_rect.txt").write_text("1,1,5,6\n2\t2\t5\t6\n3 3,5 6\n")
    (tmp_path / "Skating2" / "groundtruth_rect.2.txt").write_text("10,10,4,4\n" * 3)
    images(tmp_path / "Car" / "img", 4)
    (tmp_path / "Car" / "groundtruth_rect.txt").write_text("5,5,2,2\n" * 4)
    seqs = {s.name: s for s in read_otb(tmp_path)}
    assert sorted(seqs) == ["Car", "Skating2-1", "Skating2-2"]
    np.testing.assert_allclose(seqs["Skating2-1"].boxes, [[0, 0, 5, 6], [1, 1, 5, 6], [2, 2, 5, 6]])
    np.testing.assert_allclose(seqs["Skating2-2"].boxes[0], [9, 9, 4, 4])


def test_otb_dot_one_dot_two_and_empty_file(tmp_path):
    images(tmp_path / "Jogging" / "img", 2)
    (tmp_path / "Jogging" / "groundtruth_rect.1.txt").write_text("1,1,2,2\n1,1,2,2\n")
    (tmp_path / "Jogging" / "groundtruth_rect.2.txt").write_text("3,3,2,2\n3,3,2,2\n")
    images(tmp_path / "Human4" / "img", 2)
    (tmp_path / "Human4" / "groundtruth_rect.1.txt").write_text("\n")
    (tmp_path / "Human4" / "groundtruth_rect.2.txt").write_text("1,1,2,2\n1,1,2,2\n")
    names = [s.name for s in read_otb(tmp_path)]
    assert names == ["Human4", "Jogging-1", "Jogging-2"]


def test_otb_frame_ranges_and_odd_numbering(tmp_path):
    images(tmp_path / "Football1" / "img", 80)
    (tmp_path / "Football1" / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 74)
    images(tmp_path / "BlurCar1" / "img", 5, start=247)
    (tmp_path / "BlurCar1" / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 3)   # fewer lines
    images(tmp_path / "Board" / "img", 3, digits=5)
    (tmp_path / "Board" / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 3)
    seqs = {s.name: s for s in read_otb(tmp_path)}
    assert len(seqs["Football1"]) == 74
    assert [Path(f).name for f in seqs["BlurCar1"].frames] == ["0247.jpg", "0248.jpg", "0249.jpg"]
    assert Path(seqs["Board"].frames[0]).name == "00001.jpg"


def test_otb_david_range(tmp_path):
    images(tmp_path / "David" / "img", 780)
    (tmp_path / "David" / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 471)
    seq = read_otb(tmp_path)[0]
    assert Path(seq.frames[0]).name == "0300.jpg" and Path(seq.frames[-1]).name == "0770.jpg"


@pytest.mark.parametrize("gt,match", [("1,1,2,2\n" * 5, "5 boxes but only 3 frames"),
                                      ("1,1,2\n", ":1: expected 4"), ("a,b,c,d\n", ":1: not numbers"),
                                      ("1,1,-2,2\n", "negative")])
def test_otb_errors_name_file_and_line(tmp_path, gt, match):
    images(tmp_path / "Bad" / "img", 3)
    (tmp_path / "Bad" / "groundtruth_rect.txt").write_text(gt)
    with pytest.raises(DatasetError, match=match):
        read_otb(tmp_path)
    errors: list[str] = []
    assert read_otb(tmp_path, errors=errors) == []
    assert len(errors) == 1 and "Bad" in errors[0]


def test_got10k_absence(tmp_path):
    images(tmp_path / "GOT-10k_Val_000001", 3, digits=8)
    (tmp_path / "GOT-10k_Val_000001" / "groundtruth.txt").write_text("1,2,3,4\n" * 3)
    (tmp_path / "GOT-10k_Val_000001" / "absence.label").write_text("0\n1\n0\n")
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000001\n")
    seq = read_got10k(tmp_path)[0]
    assert np.isnan(seq.boxes[1]).all() and seq.boxes[0].tolist() == [1, 2, 3, 4]


def test_lasot_occlusion_and_out_of_view(tmp_path):
    seq_dir = tmp_path / "airplane" / "airplane-1"
    images(seq_dir / "img", 4, digits=8)
    (seq_dir / "groundtruth.txt").write_text("1,2,3,4\n" * 4)
    (seq_dir / "full_occlusion.txt").write_text("0,1,0,0")
    (seq_dir / "out_of_view.txt").write_text("0,0,0,1")
    seq = read_lasot(tmp_path)[0]
    assert seq.name == "airplane-1"
    assert np.isnan(seq.boxes[[1, 3]]).all() and not np.isnan(seq.boxes[[0, 2]]).any()


@pytest.mark.parametrize("color", [True, False])
def test_vot_polygons_and_color_folder(tmp_path, color):
    seq_dir = tmp_path / "ball"
    images(seq_dir / "color" if color else seq_dir, 2, digits=8)
    (seq_dir / "groundtruth.txt").write_text("1,2,5,2,5,8,1,8\n10,10,4,4\n")
    seq = read_vot(tmp_path)[0]
    np.testing.assert_allclose(seq.boxes, [[1, 2, 4, 6], [10, 10, 4, 4]])


def test_uav123_nan_rows_and_config(tmp_path):
    images(tmp_path / "data_seq" / "UAV123" / "bird1", 10, start=1, digits=6)
    anno = tmp_path / "anno" / "UAV123"
    anno.mkdir(parents=True)
    (anno / "bird1_1.txt").write_text("1,1,2,2\nNaN,NaN,NaN,NaN\n1,1,2,2\n")
    (anno / "bird1_2.txt").write_text("1,1,2,2\n" * 2)
    (tmp_path / "configSeqs.m").write_text(
        "seqs={struct('name','bird1_1','path','D:\\data_seq\\UAV123\\bird1\\','startFrame',1,'endFrame',3,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n"
        "struct('name','bird1_2','path','D:\\data_seq\\UAV123\\bird1\\','startFrame',6,'endFrame',7,'nz',6,'ext','jpg','init_rect',[0,0,0,0])};\n")
    seqs = {s.name: s for s in read_uav123(tmp_path)}
    assert np.isnan(seqs["bird1_1"].boxes[1]).all()
    assert [Path(f).name for f in seqs["bird1_2"].frames] == ["000006.jpg", "000007.jpg"]


def test_uav123_without_config_reports_subsequences(tmp_path):
    images(tmp_path / "data_seq" / "bird1", 5)
    (tmp_path / "anno").mkdir()
    (tmp_path / "anno" / "bird1_2.txt").write_text("1,1,2,2\n")
    errors: list[str] = []
    assert read_uav123(tmp_path, errors=errors) == [] and "configSeqs.m" in errors[0]


def test_read_dataset_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format"):
        read_dataset(tmp_path, "kitti")
